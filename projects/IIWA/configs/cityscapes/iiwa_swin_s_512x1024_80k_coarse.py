"""IIWA Swin-S, Cityscapes stage 1: coarse train_extra + fine train, 80k iterations (upstream ..._CF_type1).

Backbone from swin_small_patch4_window7_224.pth (train.init_checkpoint=<converted file>). Whole-image
test with 6 scales + flip, decoder dropout 0.1, warm-up 1500 iterations.
"""
from detectron2.config import LazyCall as L
from detectron2.data import get_detection_dataset_dicts

from .....configs.common.data.cityscapes import COARSE_TRAIN, TTA_RATIOS
from .base_iiwa_cityscapes_512x1024_80k import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

dataloader.train.dataset = L(get_detection_dataset_dicts)(
    names=[COARSE_TRAIN, "cityscapes_fine_sem_seg_train"], filter_empty=False)
model.head.drop_rate = 0.1
model.test_mode = "whole"
model.crop_size = None
model.stride = None
model.tta_scales = TTA_RATIOS
model.tta_flip = True
lr_multiplier.warmup_iters = 1500

train.output_dir = "./output/iiwa_swin_s_512x1024_80k_coarse"
