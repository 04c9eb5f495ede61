"""A tiny, fast variant of the toy quick-start config for tests (64x64 crops, narrow FPN, few iterations)."""
from ...configs.toy.fpn_r18_toy import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

model.backbone.out_channels = 16  # narrower still than the toy config
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
train.eval_period = 4
train.checkpointer.period = 2
train.log_period = 1
lr_multiplier.warmup_iters = 2
