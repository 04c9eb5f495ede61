"""Semantic FPN on a ResNet-18 trained from scratch on the toy dataset: the CPU quick start.

    python tools/make_toy_dataset.py --out datasets/toy
    python tools/train_net.py --config-file configs/toy/fpn_r18_toy.py
"""
from ..common.data.toy import NUM_CLASSES, dataloader  # noqa: F401
from ..common.models.semantic_fpn import model
from ..common.optim import AdamW as optimizer
from ..common.schedule import lr_multiplier
from ..common.train import train

model.num_classes = NUM_CLASSES
model.head.loss.reduction = "valid"

optimizer.lr = 1e-3
optimizer.weight_decay = 1e-4

train.max_iter = 2000
train.eval_period = 1000
train.checkpointer.period = 500
train.output_dir = "./output/fpn_r18_toy"
lr_multiplier.warmup_iters = 100
lr_multiplier.power = 1.0
