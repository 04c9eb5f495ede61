"""IIWA Swin-S, Cityscapes stage 2 for the test server: fine train + val from the stage-1 model (..._test_type3).

82.5 mIoU on test. Run ``iiwa_swin_s_512x1024_80k_coarse.py`` first; the val score of this model is not
meaningful (it trains on val).
"""
from detectron2.config import LazyCall as L
from detectron2.data import get_detection_dataset_dicts

from .iiwa_swin_s_512x1024_80k import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

dataloader.train.dataset = L(get_detection_dataset_dicts)(
    names=["cityscapes_fine_sem_seg_train", "cityscapes_fine_sem_seg_val"], filter_empty=False)
train.output_dir = "./output/iiwa_swin_s_512x1024_80k_trainval"
