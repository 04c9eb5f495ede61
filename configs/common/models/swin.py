"""Swin Transformer backbones (``ctxseg.modeling.backbone.swin``) as LazyConfig pieces; put one under any head.

    from ..common.models.swin import SWIN_S
    model.backbone.bottom_up = SWIN_S  # e.g. under Semantic FPN

``SWIN_T``/``SWIN_S`` use window 7 (the 224 ImageNet-1k checkpoints), ``SWIN_B``/``SWIN_L`` window 12
(the 384 ImageNet-22k checkpoints IIWA starts from). For IIWA's dilated layout set
``strides=(4, 2, 1, 1)`` (output strides 4, 8, 8, 8; drop path 0.3 as every IIWA config).
"""
from detectron2.config import LazyCall as L

from ctxseg.modeling.backbone.swin import D2SwinTransformer

SWIN_T = L(D2SwinTransformer)(embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24], window_size=7,
                              drop_path_rate=0.3)
SWIN_S = L(D2SwinTransformer)(embed_dim=96, depths=[2, 2, 18, 2], num_heads=[3, 6, 12, 24], window_size=7,
                              drop_path_rate=0.3)
SWIN_B = L(D2SwinTransformer)(embed_dim=128, depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32], window_size=12,
                              drop_path_rate=0.3)
SWIN_L = L(D2SwinTransformer)(embed_dim=192, depths=[2, 2, 18, 2], num_heads=[6, 12, 24, 48], window_size=12,
                              drop_path_rate=0.3)
