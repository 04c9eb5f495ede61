"""Pascal Context 59 classes, the seed papers' pipeline: 480x480 crops from a (520, 520) base scale.

Train: ratio-range resize (0.5, 2.0) of (520, 520), 480x480 crop with cat_max_ratio 0.75, flip, photometric
distortion, pad to the crop. Test: keep-ratio resize to (520, 520). 16 images per iteration by default
(IIWA used 32 for Swin-S, 24 for Swin-B). Needs ``tools/prepare_pascal_context.py``. Slide inference:
``model.test_mode = "slide"``, ``model.crop_size = CROP_SIZE``, ``model.stride = SLIDE_STRIDE``; the
multi-scale test's scales: ``TTA_RATIOS``.
"""
from .semseg_pipeline import semseg_dataloader

NUM_CLASSES = 59
IGNORE_LABEL = 255
CROP_SIZE = (480, 480)
BASE_SCALE = (520, 520)
SLIDE_STRIDE = (320, 320)
TTA_RATIOS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)

dataloader = semseg_dataloader("pascal_context_59_sem_seg_train", "pascal_context_59_sem_seg_val",
                               NUM_CLASSES, CROP_SIZE, BASE_SCALE, ratio_range=(0.5, 2.0),
                               ignore_label=IGNORE_LABEL, batch_size=16, num_workers=4)  # 16 in all: 2 per GPU x 8 GPUs
