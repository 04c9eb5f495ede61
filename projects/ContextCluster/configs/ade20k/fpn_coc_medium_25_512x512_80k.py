"""Semantic FPN + CoC-Medium-25 (5x5 proposal centres per region), ADE20K 512x512, 80k iterations.

The authors report 40.6 mIoU (single scale). Recipe: ``base_fpn_coc_512x512_80k.py``.
"""
from detectron2.config import LazyCall as L

from ctxseg.modeling.backbone.context_cluster import coc_medium

from .base_fpn_coc_512x512_80k import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

model.backbone.bottom_up = L(coc_medium)(proposals=25, agg_norm="sim")  # "count" for the authors' ADE20K weights
train.output_dir = "./output/fpn_coc_medium_25_512x512_80k"
