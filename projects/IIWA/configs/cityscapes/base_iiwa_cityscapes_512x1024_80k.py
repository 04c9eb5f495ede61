"""IIWA on Cityscapes, 512x1024 crops, 80k iterations: what every stage and backbone shares.

19 classes with the upstream class weights, neck windows (4,8)/(8,16) and decoder windows (4,8) (a
64x128 query map: 256 windows), AdamW lr 6e-5 / wd 0.01 (MMCV's name rule for norms), poly 0.96 after a linear warm-up
from 1e-6, 8 GPUs x 2 images, checkpoint and evaluation every 8k iterations. Stage 2 (fine train, or
fine train+val) starts from the stage-1 (coarse + fine) model:

    iiwa_swin_{s,b}_512x1024_80k_coarse.py -> iiwa_swin_{s,b}_512x1024_80k.py / ..._80k_trainval.py

The published val numbers (83.1 / 84.0) are multi-scale + flip while the released stage-2 configs'
data.test is single scale (docs/iiwa_reconstruction.md); ms+flip: model.tta_scales=[0.5,0.75,1.0,1.25,1.5,1.75]
model.tta_flip=True.
"""
from .....configs.common.data.cityscapes import (  # noqa: F401
                                                  CITYSCAPES_CLASS_WEIGHTS,
                                                  CROP_SIZE,
                                                  NUM_CLASSES,
                                                  SLIDE_STRIDE,
                                                  dataloader,
)
from .....configs.common.models.iiwa import model
from .....configs.common.optim import SwinAdamW as optimizer  # noqa: F401 (lr 6e-5, decay 0.01, Swin keys)
from .....configs.common.schedule import lr_multiplier
from .....configs.common.train import train

model.num_classes = NUM_CLASSES
model.backbone.patch_sizes = [(4, 8), (8, 16), (4, 8), (4, 8), (4, 8), (4, 8)]
model.head.update(window_size_q=(4, 8), window_size_k=(4, 8), class_weight=list(CITYSCAPES_CLASS_WEIGHTS))
model.test_mode = "slide"
model.crop_size = CROP_SIZE
model.stride = SLIDE_STRIDE

dataloader.train.total_batch_size = 16

lr_multiplier.warmup_iters = 1000
lr_multiplier.warmup_ratio = 1e-6
lr_multiplier.power = 0.96

train.init_checkpoint = ""
train.max_iter = 80000
train.eval_period = 8000
train.checkpointer.period = 8000
