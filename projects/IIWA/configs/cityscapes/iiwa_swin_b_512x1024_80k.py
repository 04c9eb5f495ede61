"""IIWA Swin-B, Cityscapes stage 2: fine train from the stage-1 model, 80k iterations (upstream ..._val_type2).

84.0 mIoU on val (multi-scale + flip, see the base file). Run ``iiwa_swin_b_512x1024_80k_coarse.py`` first.
"""
from .iiwa_swin_b_512x1024_80k_coarse import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

dataloader.train.dataset.names = ["cityscapes_fine_sem_seg_train"]
model.head.drop_rate = 0.1  # as released: the val stage has decoder dropout, stages 1 and trainval do not
# Upstream loads the stage-1 work_dir's iter_80000.pth; ours is the stage-1 run's final checkpoint.
train.init_checkpoint = "./output/iiwa_swin_b_512x1024_80k_coarse/model_final.pth"
train.output_dir = "./output/iiwa_swin_b_512x1024_80k"
