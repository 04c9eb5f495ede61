"""Backbones registered in Detectron2's BACKBONE_REGISTRY."""
from . import swin  # noqa: F401
from . import context_cluster  # noqa: F401
