"""IIWA Swin-B, Cityscapes stage 1: coarse train_extra + fine train, 80k iterations (upstream ..._CF_type1).

Backbone from swin_base_patch4_window12_384_22k.pth (train.init_checkpoint=<converted file>).
Sliding-window single-scale test, no decoder dropout, Swin lr x 0.2.
"""
from detectron2.config import LazyCall as L
from detectron2.data import get_detection_dataset_dicts

from .....configs.common.data.cityscapes import COARSE_TRAIN
from .....configs.common.models.iiwa import use_swin_b
from .base_iiwa_cityscapes_512x1024_80k import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

dataloader.train.dataset = L(get_detection_dataset_dicts)(
    names=[COARSE_TRAIN, "cityscapes_fine_sem_seg_train"], filter_empty=False)
use_swin_b(model)
# Upstream "backbone: lr_mult". Our neck lives under backbone.fusions, so the key names the Swin only;
# being longer than "norm", it still gives Swin norms lr x 0.2 with weight decay
# (MMCV's rule: only the longest matching key applies, ctxseg.engine.optimizer).
optimizer.params.custom_keys["backbone.bottom_up"] = {"lr_mult": 0.2}

train.output_dir = "./output/iiwa_swin_b_512x1024_80k_coarse"
