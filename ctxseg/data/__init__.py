"""Datasets (catalog entries), the dataset mapper and augmentations."""
