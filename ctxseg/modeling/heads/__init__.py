"""Segmentation heads: Semantic FPN, IIWA fusion + decoder."""
