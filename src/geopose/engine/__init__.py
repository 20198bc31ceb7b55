"""Training, evaluation and prediction engines, and the pieces they share."""
