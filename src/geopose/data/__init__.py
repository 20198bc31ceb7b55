"""Data: datasets over the competition layout, folds, and the synthetic city generator."""
