"""Semantic-segmentation evaluation."""
