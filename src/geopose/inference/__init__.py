"""Inference: checkpoints → (TTA, ensemble) predictor → a layout split or one raster of
any size, with the manifest that makes reruns resume."""
