"""Backbones: Swin and Context Cluster (registered in Detectron2's BACKBONE_REGISTRY), and the IIWA fusion
neck, a ``Backbone`` wrapping a ``bottom_up`` one as Detectron2's FPN does."""
from . import context_cluster, swin  # noqa: F401  (registers the backbones)
from .iiwa_fusion import FusionFFN, IIWAFusionNeck

__all__ = ["IIWAFusionNeck", "FusionFFN"]
