"""The built-in toy dataset (``tools/make_toy_dataset.py``): 7 classes, 128x160 images.

Training follows the benchmark pipeline of ``specs/data.md`` at toy scale: ratio-range resize around
a short side of 128, 128x128 category-aware crops, flip, photometric distortion, pad to the crop.
"""
from detectron2.config import LazyCall as L
from detectron2.data import build_detection_test_loader, build_detection_train_loader
from detectron2.data.transforms import RandomFlip
from omegaconf import OmegaConf

from ctxseg.data import (PadToSize, PhotometricDistortion, RandomCropCategoryRatio, RandomRatioResize,
                         ResizeKeepRatio, SemSegDatasetMapper, get_dataset_dicts)
from ctxseg.evaluation import SemSegEvaluator

NUM_CLASSES = 7
CROP_SIZE = (128, 128)
BASE_SCALE = (640, 128)  # (long, short): short side 128 at ratio 1, long side never binding

dataloader = OmegaConf.create()
dataloader.train = L(build_detection_train_loader)(
    dataset=L(get_dataset_dicts)(name="toy_sem_seg_train"),
    mapper=L(SemSegDatasetMapper)(
        is_train=True,
        augmentations=[
            L(RandomRatioResize)(base_scale=BASE_SCALE, ratio_range=(0.75, 1.5)),
            L(RandomCropCategoryRatio)(crop_size=CROP_SIZE, cat_max_ratio=0.75, ignore_label=255),
            L(RandomFlip)(horizontal=True),
            L(PhotometricDistortion)(),
            L(PadToSize)(size=CROP_SIZE, ignore_label=255),
        ],
        num_classes=NUM_CLASSES,
        ignore_label=255,
    ),
    total_batch_size=8,
    aspect_ratio_grouping=False,
    num_workers=1,
)
dataloader.test = L(build_detection_test_loader)(
    dataset=L(get_dataset_dicts)(name="toy_sem_seg_val"),
    mapper=L(SemSegDatasetMapper)(
        is_train=False,
        augmentations=[L(ResizeKeepRatio)(base_scale=BASE_SCALE)],
        num_classes=NUM_CLASSES,
        ignore_label=255,
    ),
    num_workers=1,
)
dataloader.evaluator = L(SemSegEvaluator)(dataset_name="${..test.dataset.name}",
                                          output_dir="${train.output_dir}/inference")
