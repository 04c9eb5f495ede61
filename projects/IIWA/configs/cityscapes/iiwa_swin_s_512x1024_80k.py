"""IIWA Swin-S, Cityscapes stage 2: fine train from the stage-1 model, 80k iterations (upstream ..._val_type2).

83.1 mIoU on val (multi-scale + flip, see the base file). Run ``iiwa_swin_s_512x1024_80k_coarse.py`` first.
"""
from .base_iiwa_cityscapes_512x1024_80k import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

# Upstream loads the stage-1 work_dir's iter_80000.pth; ours is the stage-1 run's final checkpoint.
train.init_checkpoint = "./output/iiwa_swin_s_512x1024_80k_coarse/model_final.pth"
train.output_dir = "./output/iiwa_swin_s_512x1024_80k"
