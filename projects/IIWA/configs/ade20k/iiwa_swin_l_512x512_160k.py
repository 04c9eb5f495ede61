"""IIWA Swin-L, ADE20K 512x512, 160k iterations (upstream iiwa_swinl_512x512_160k_ade20k_type1): 53.20 mIoU.

Backbone from swin_large_patch4_window12_384_22k.pth. 8 GPUs x 1 image, whole-image test.
"""
from .....configs.common.data.ade20k import TTA_RATIOS
from .....configs.common.models.swin import DILATED_STRIDES, SWIN_L
from .base_iiwa_ade20k_512x512_160k import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

model.backbone.bottom_up = SWIN_L
model.backbone.bottom_up.strides = DILATED_STRIDES
model.head.update(embed_dim=384, query_dim=384, memory_dims=(192, 384, 768), depths=(1, 1, 1),
                  drop_path_rate=0.3)
model.test_mode = "whole"
model.crop_size = None
model.stride = None
# The released data.test is 6 scales + flip, though the number is published as single scale;
# single scale: model.tta_scales=None model.tta_flip=False.
model.tta_scales = TTA_RATIOS
model.tta_flip = True

dataloader.train.total_batch_size = 8

# See iiwa_swin_b_512x512_160k.py: "backbone.bottom_up" is upstream's "backbone" key.
optimizer.params.custom_keys["backbone.bottom_up"] = {"lr_mult": 0.2}
lr_multiplier.warmup_ratio = 1e-6

train.output_dir = "./output/iiwa_swin_l_512x512_160k"
