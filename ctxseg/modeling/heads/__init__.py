"""Segmentation heads: Semantic FPN, IIWA fusion + decoder."""
from .iiwa_decoder import IIWADecoderBlock, IIWADecoderHead
from .iiwa_fusion import FusionFFN, IIWAFusionNeck
from .semantic_fpn import SemanticFPNHead, build_semantic_fpn_neck, fpn_feature_shapes

__all__ = ["SemanticFPNHead", "build_semantic_fpn_neck", "fpn_feature_shapes",
           "IIWAFusionNeck", "FusionFFN", "IIWADecoderHead", "IIWADecoderBlock"]
