"""IIWA Swin-B, Cityscapes stage 2 for the test server: fine train + val from the stage-1 model (..._test_type3).

83.2 mIoU on test. Run ``iiwa_swin_b_512x1024_80k_coarse.py`` first; the val score of this model is not
meaningful (it trains on val).
"""
from .iiwa_swin_b_512x1024_80k import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

dataloader.train.dataset.names = ["cityscapes_fine_sem_seg_train", "cityscapes_fine_sem_seg_val"]
model.head.drop_rate = 0.0
train.output_dir = "./output/iiwa_swin_b_512x1024_80k_trainval"
