"""Segmentation heads: Semantic FPN, the IIWA decoder."""
from .iiwa_decoder import IIWADecoderBlock, IIWADecoderHead
from .semantic_fpn import SemanticFPNHead, build_semantic_fpn_neck, fpn_feature_shapes

__all__ = ["SemanticFPNHead", "build_semantic_fpn_neck", "fpn_feature_shapes", "IIWADecoderHead", "IIWADecoderBlock"]
