"""IIWA Swin-S, Pascal Context-59 480x480, 40k iterations (upstream ..._pascal_context_59_type2): 55.8 mIoU.

Backbone from swin_small_patch4_window7_224.pth; 8 GPUs x 4 images.
"""
from .base_iiwa_pascal_context_480x480_40k import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

train.output_dir = "./output/iiwa_swin_s_480x480_40k"
