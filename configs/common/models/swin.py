"""Swin Transformer backbones (``ctxseg.modeling.backbone.swin``) as LazyConfig pieces; put one under any head.

    from ..common.models.swin import SWIN_S
    model.backbone.bottom_up = SWIN_S  # e.g. under Semantic FPN

The sizes come from ``SWIN_SIZES`` (``ctxseg/modeling/backbone/swin.py``). ``SWIN_T``/``SWIN_S`` use window
7 (the 224 ImageNet-1k checkpoints), ``SWIN_B``/``SWIN_L`` window 12 (the 384 ImageNet-22k checkpoints IIWA
starts from); drop path 0.3 as every IIWA config. For IIWA's dilated layout (output strides 4, 8, 8, 8) set
``strides=DILATED_STRIDES``.
"""
from detectron2.config import LazyCall as L

from ctxseg.modeling.backbone.swin import SWIN_SIZES, D2SwinTransformer

DILATED_STRIDES = (4, 2, 1, 1)  # patch 4, then merges of stride 2, 1, 1

SWIN_T = L(D2SwinTransformer)(**SWIN_SIZES["tiny"], window_size=7, drop_path_rate=0.3)
SWIN_S = L(D2SwinTransformer)(**SWIN_SIZES["small"], window_size=7, drop_path_rate=0.3)
SWIN_B = L(D2SwinTransformer)(**SWIN_SIZES["base"], window_size=12, drop_path_rate=0.3)
SWIN_L = L(D2SwinTransformer)(**SWIN_SIZES["large"], window_size=12, drop_path_rate=0.3)
