"""The built-in toy dataset (``tools/make_toy_dataset.py``): 7 classes, 128x160 images.

Training follows the benchmarks' MMSegmentation pipeline at toy scale: ratio-range resize around
a short side of 128, 128x128 category-aware crops, flip, photometric distortion, pad to the crop.
"""
from .semseg_pipeline import semseg_dataloader

NUM_CLASSES = 7
CROP_SIZE = (128, 128)
BASE_SCALE = (640, 128)  # (long, short): short side 128 at ratio 1, long side never binding

dataloader = semseg_dataloader("toy_sem_seg_train", "toy_sem_seg_val",
                               NUM_CLASSES, CROP_SIZE, BASE_SCALE, ratio_range=(0.75, 1.5),
                               ignore_label=255, batch_size=8, num_workers=1)
