"""Inference as a product: the Predictor, mixed precision, weight loading, FLOP counts."""
from .flops import FlopCount, count_configured_flops, count_whole_image_flops
from .precision import PRECISIONS, inference_precision
from .predictor import Predictor, SegmentationResult, label_dtype, load_inference_config
from .weights import load_weights

__all__ = ["Predictor", "SegmentationResult", "PRECISIONS", "inference_precision", "label_dtype",
           "load_inference_config", "load_weights", "FlopCount", "count_configured_flops", "count_whole_image_flops"]
