"""IIWA on ADE20K, 512x512 crops, 160k iterations: the Swin-S recipe of the authors' configs.

Shared by ``iiwa_swin_{s,b,l}_512x512_160k.py``. AdamW lr 6e-5, weight decay 0.01 with no decay on
norms and position tables (MMCV's name rule), linear warm-up 1500 iterations from 1e-7 then poly 0.95,
8 GPUs x 2 images, sliding-window test over 512x512 windows at stride 384 (MMSegmentation's ADE20K
default is 341), single scale.
"""
from .....configs.common.data.ade20k import CROP_SIZE, NUM_CLASSES, dataloader  # noqa: F401
from .....configs.common.models.iiwa import model
from .....configs.common.optim import SwinAdamW as optimizer  # noqa: F401 (lr 6e-5, decay 0.01, Swin keys)
from .....configs.common.schedule import lr_multiplier
from .....configs.common.train import train

model.num_classes = NUM_CLASSES
model.test_mode = "slide"
model.crop_size = CROP_SIZE
model.stride = (384, 384)

dataloader.train.total_batch_size = 16

lr_multiplier.warmup_iters = 1500
lr_multiplier.warmup_ratio = 1e-7
lr_multiplier.power = 0.95

# Empty: the head starts from scratch; pass the converted ImageNet Swin with train.init_checkpoint=...
train.init_checkpoint = ""
train.max_iter = 160000
train.eval_period = 16000
train.checkpointer.period = 16000
