"""Semantic-segmentation evaluation."""
from .sem_seg import SemSegEvaluator, segmentation_metrics

__all__ = ["SemSegEvaluator", "segmentation_metrics"]
