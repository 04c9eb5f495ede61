"""Pascal Context 59 classes, the seed papers' pipeline: 480x480 crops from a (520, 520) base scale.

Train: ratio-range resize (0.5, 2.0) of (520, 520), 480x480 crop with cat_max_ratio 0.75, flip, photometric
distortion, pad to the crop. Test: keep-ratio resize to (520, 520). 16 images per iteration by default
(IIWA used 32 for Swin-S, 24 for Swin-B). Needs ``tools/prepare_pascal_context.py``. Slide inference:
``model.test_mode = "slide"``, ``model.crop_size = SLIDE_CROP``, ``model.stride = SLIDE_STRIDE``.
"""
from detectron2.config import LazyCall as L
from detectron2.data import build_detection_test_loader, build_detection_train_loader
from detectron2.data.transforms import RandomFlip
from omegaconf import OmegaConf

from ctxseg.data import (PadToSize, PhotometricDistortion, RandomCropCategoryRatio, RandomRatioResize,
                         ResizeKeepRatio, SemSegDatasetMapper, get_dataset_dicts)
from ctxseg.evaluation import SemSegEvaluator

NUM_CLASSES = 59
IGNORE_LABEL = 255
CROP_SIZE = (480, 480)
BASE_SCALE = (520, 520)
SLIDE_CROP = (480, 480)
SLIDE_STRIDE = (320, 320)
TTA_RATIOS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)

dataloader = OmegaConf.create()
dataloader.train = L(build_detection_train_loader)(
    dataset=L(get_dataset_dicts)(name="pascal_context_59_sem_seg_train"),
    mapper=L(SemSegDatasetMapper)(
        is_train=True,
        augmentations=[
            L(RandomRatioResize)(base_scale=BASE_SCALE, ratio_range=(0.5, 2.0)),
            L(RandomCropCategoryRatio)(crop_size=CROP_SIZE, cat_max_ratio=0.75, ignore_label=IGNORE_LABEL),
            L(RandomFlip)(horizontal=True),
            L(PhotometricDistortion)(),
            L(PadToSize)(size=CROP_SIZE, ignore_label=IGNORE_LABEL),
        ],
        num_classes=NUM_CLASSES,
        ignore_label=IGNORE_LABEL,
    ),
    total_batch_size=16,  # global; IIWA: 4 per GPU x 8 (Swin-S), 3 x 8 (Swin-B)
    aspect_ratio_grouping=False,
    num_workers=4,
)
dataloader.test = L(build_detection_test_loader)(
    dataset=L(get_dataset_dicts)(name="pascal_context_59_sem_seg_val"),
    mapper=L(SemSegDatasetMapper)(
        is_train=False,
        augmentations=[L(ResizeKeepRatio)(base_scale=BASE_SCALE)],
        num_classes=NUM_CLASSES,
        ignore_label=IGNORE_LABEL,
    ),
    num_workers=4,
)
dataloader.evaluator = L(SemSegEvaluator)(dataset_name="${..test.dataset.name}",
                                          output_dir="${train.output_dir}/inference")
