"""Backbones registered in Detectron2's BACKBONE_REGISTRY."""
