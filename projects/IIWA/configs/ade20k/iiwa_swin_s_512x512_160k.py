"""IIWA Swin-S, ADE20K 512x512, 160k iterations (upstream iiwa_swins_512x512_160k_ade20k_type1): 48.30 mIoU.

Backbone from swin_small_patch4_window7_224.pth. The released config tests single scale, as the
published number says (the Swin-B and Swin-L configs test 6 scales + flip).
"""
from .base_iiwa_ade20k_512x512_160k import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

train.output_dir = "./output/iiwa_swin_s_512x512_160k"
