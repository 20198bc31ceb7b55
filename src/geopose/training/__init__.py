"""Training: the loop (trainer), optimizers, schedules, EMA, non-finite guard, run files
and pickle-free training state, validation, the shipped recipes."""
