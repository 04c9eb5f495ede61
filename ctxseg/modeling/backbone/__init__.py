"""Backbones registered in Detectron2's BACKBONE_REGISTRY."""
from . import context_cluster, swin  # noqa: F401  (register the backbones)
