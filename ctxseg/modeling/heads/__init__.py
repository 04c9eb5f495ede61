"""Segmentation heads: Semantic FPN, IIWA fusion + decoder."""
from .semantic_fpn import SemanticFPNHead, build_semantic_fpn_neck

__all__ = ["SemanticFPNHead", "build_semantic_fpn_neck"]
