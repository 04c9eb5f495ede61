"""IIWA on Pascal Context-59, 480x480 crops, 40k iterations: the Swin-S recipe of the released config.

Shared by ``iiwa_swin_{s,b}_480x480_40k.py``. Decoder windows (6,6) (a 60x60 query map: 100 windows),
AdamW lr 6e-5 / wd 0.01 (MMCV's name rule for norms), warm-up 750 iterations from 1e-6 then poly 0.96, sliding-window
test 480x480 stride 320. The released data.test is 6 scales + flip, though the README calls the
numbers single scale (docs/iiwa_reconstruction.md); single scale: model.tta_scales=None model.tta_flip=False.
"""
from .....configs.common.data.pascal_context_59 import CROP_SIZE, NUM_CLASSES, SLIDE_STRIDE, TTA_RATIOS, dataloader  # noqa: F401
from .....configs.common.models.iiwa import model
from .....configs.common.optim import SwinAdamW as optimizer  # noqa: F401 (lr 6e-5, decay 0.01, Swin keys)
from .....configs.common.schedule import lr_multiplier
from .....configs.common.train import train

model.num_classes = NUM_CLASSES
model.head.update(window_size_q=(6, 6), window_size_k=(6, 6), drop_rate=0.1)
model.test_mode = "slide"
model.crop_size = CROP_SIZE
model.stride = SLIDE_STRIDE
model.tta_scales = TTA_RATIOS
model.tta_flip = True

dataloader.train.total_batch_size = 32

lr_multiplier.warmup_iters = 750
lr_multiplier.warmup_ratio = 1e-6
lr_multiplier.power = 0.96

train.init_checkpoint = ""  # the converted ImageNet Swin: train.init_checkpoint=...
train.max_iter = 40000
train.eval_period = 8000
train.checkpointer.period = 8000
