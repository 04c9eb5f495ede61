"""A tiny Swin + Semantic FPN on the toy dataset for run-level tests (resume, signals, checkpoints).

Small enough that a checkpoint is a few MB; it has drop-path and dropout, so exact-resume tests also
cover the model's own randomness. Checkpoints every 2 of 4 iterations, metrics every iteration.
"""
from ...configs.toy.fpn_swin_toy import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

model.backbone.bottom_up.embed_dim = 16
model.backbone.bottom_up.num_heads = [1, 1, 2, 2]
model.backbone.bottom_up.drop_path_rate = 0.2
model.backbone.out_channels = 16
model.head.conv_dims = 16
dataloader.train.total_batch_size = 2
dataloader.train.num_workers = 0
dataloader.test.num_workers = 0
for aug in dataloader.train.mapper.augmentations:
    if "crop_size" in aug:
        aug.crop_size = (64, 64)
    if "size" in aug:
        aug.size = (64, 64)
    if "base_scale" in aug:
        aug.base_scale = (320, 64)
dataloader.test.mapper.augmentations[0].base_scale = (320, 64)
train.max_iter = 4
train.eval_period = 0
train.checkpointer.period = 2
train.log_period = 1
lr_multiplier.warmup_iters = 2
