"""Semantic FPN on a tiny Swin (E=32, depths 1,1,2,1, window 4) trained from scratch on the toy dataset.

    python tools/make_toy_dataset.py --out datasets/toy
    python tools/train_net.py --config-file configs/toy/fpn_swin_toy.py

The standard Swin layout (strides 4, 8, 16, 32) needs inputs padded to multiples of 32: the segmentor
pads with the backbone's ``size_divisibility`` (toy crops 128x128 and images 128x160 already are).
"""
from detectron2.config import LazyCall as L

from ctxseg.modeling.backbone.swin import D2SwinTransformer

from ..common.data.toy import NUM_CLASSES, dataloader  # noqa: F401
from ..common.models.semantic_fpn import model
from ..common.optim import SWIN_CUSTOM_KEYS
from ..common.optim import AdamW as optimizer
from ..common.schedule import lr_multiplier
from ..common.train import train

model.backbone.bottom_up = L(D2SwinTransformer)(embed_dim=32, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8],
                                                window_size=4, drop_path_rate=0.1)
model.backbone.out_channels = 64
model.head.conv_dims = 64
model.num_classes = NUM_CLASSES
model.head.loss.reduction = "valid"

optimizer.lr = 1e-3
optimizer.weight_decay = 1e-4
optimizer.params.custom_keys = SWIN_CUSTOM_KEYS

train.max_iter = 2000
train.eval_period = 1000
train.checkpointer.period = 500
train.output_dir = "./output/fpn_swin_toy"
lr_multiplier.warmup_iters = 100
lr_multiplier.power = 1.0
