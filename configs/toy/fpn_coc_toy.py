"""Semantic FPN on a small Context Cluster trained from scratch on the toy dataset (CPU-friendly).

    python tools/make_toy_dataset.py --out datasets/toy
    python tools/train_net.py --config-file configs/toy/fpn_coc_toy.py

The backbone is CoC-Small-4 shrunk (depths 1,1,2,1, widths 32..256, head dim 16) with the same region
layout (folds 8,4,2,1), so inputs must be multiples of 32: training crops are padded to 128x128 and
test images are resized to multiples of 32 (the toy images' 128x160 already are).
"""
from detectron2.config import LazyCall as L

from ctxseg.data import AlignResize
from ctxseg.modeling.backbone.context_cluster import D2ContextCluster

from ..common.data.toy import NUM_CLASSES, dataloader
from ..common.models.semantic_fpn import model
from ..common.optim import AdamW as optimizer
from ..common.schedule import lr_multiplier
from ..common.train import train

model.backbone.bottom_up = L(D2ContextCluster)(
    depths=(1, 1, 2, 1),
    embed_dims=(32, 64, 128, 256),
    mlp_ratios=(4, 4, 4, 4),
    heads=(2, 2, 4, 4),
    head_dim=16,
    proposal_size=2,
    fold=(8, 4, 2, 1),
    agg_norm="sim",
)
model.backbone.out_channels = 128
model.head.conv_dims = 64
model.num_classes = NUM_CLASSES
model.head.loss.reduction = "valid"

dataloader.test.mapper.augmentations.append(L(AlignResize)(size_divisor=32))

optimizer.lr = 1e-3
optimizer.weight_decay = 1e-4

train.max_iter = 2000
train.eval_period = 1000
train.checkpointer.period = 500
train.output_dir = "./output/fpn_coc_toy"
lr_multiplier.warmup_iters = 100
lr_multiplier.power = 1.0
