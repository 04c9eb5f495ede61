"""A tiny Swin + Semantic FPN on the toy dataset for run-level tests (resume, signals, checkpoints).

``tiny_toy``'s data and schedule with a Swin backbone small enough that a checkpoint is a few MB; it has
drop-path and dropout, so exact-resume tests also cover the model's own randomness. 4 iterations,
checkpoints every 2, metrics every iteration, evaluation only at the end.
"""
from ...configs.toy.fpn_swin_toy import model, optimizer  # noqa: F401
from .tiny_toy import dataloader, lr_multiplier, train  # noqa: F401

model.backbone.bottom_up.embed_dim = 16
model.backbone.bottom_up.num_heads = [1, 1, 2, 2]
model.backbone.bottom_up.drop_path_rate = 0.2
model.backbone.out_channels = 16
model.head.conv_dims = 16
train.eval_period = 0
