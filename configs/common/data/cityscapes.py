"""Cityscapes (19 trainIds), the seed papers' pipeline: 512x1024 crops from a (2048, 1024) base scale.

Train: ratio-range resize (0.5, 2.0) of (2048, 1024), 512x1024 crop with cat_max_ratio 0.75, flip,
photometric distortion, pad to the crop. Test: keep-ratio resize to (2048, 1024) (the full 1024x2048 image).
16 images per iteration in all (2 per GPU on 8 GPUs). Needs ``tools/prepare_cityscapes.py`` (``--coarse``
for IIWA's first stage, which trains on ``COARSE_TRAIN`` + fine train). Model settings for configs:
``CITYSCAPES_CLASS_WEIGHTS`` (the loss's class weights), and slide inference ``SLIDE_CROP`` / ``SLIDE_STRIDE``.
For the test server set ``dataloader.test.dataset.name = "cityscapes_fine_sem_seg_test"`` and
``dataloader.evaluator.submission_format = "cityscapes"``.
"""
from detectron2.config import LazyCall as L
from detectron2.data import build_detection_test_loader, build_detection_train_loader
from detectron2.data.transforms import RandomFlip
from omegaconf import OmegaConf

from ctxseg.data import (PadToSize, PhotometricDistortion, RandomCropCategoryRatio, RandomRatioResize,
                         ResizeKeepRatio, SemSegDatasetMapper, get_dataset_dicts)
from ctxseg.evaluation import SemSegEvaluator

NUM_CLASSES = 19
IGNORE_LABEL = 255
CROP_SIZE = (512, 1024)
BASE_SCALE = (2048, 1024)  # (long, short)
SLIDE_CROP = (512, 1024)
SLIDE_STRIDE = (256, 512)
TTA_RATIOS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
COARSE_TRAIN = "cityscapes_coarse_sem_seg_train_extra"
# Loss weights per trainId (IIWA, specs/iiwa.md 5.2).
CITYSCAPES_CLASS_WEIGHTS = [0.8373, 0.918, 0.866, 1.0345, 1.0166, 0.9969, 0.9754, 1.0489, 0.8786, 1.0023, 0.9539,
                            0.9843, 1.1116, 0.9037, 1.0865, 1.0955, 1.0865, 1.1529, 1.0507]

dataloader = OmegaConf.create()
dataloader.train = L(build_detection_train_loader)(
    dataset=L(get_dataset_dicts)(name="cityscapes_fine_sem_seg_train"),
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
    total_batch_size=16,  # global: 2 per GPU x 8 GPUs
    aspect_ratio_grouping=False,
    num_workers=4,
)
dataloader.test = L(build_detection_test_loader)(
    dataset=L(get_dataset_dicts)(name="cityscapes_fine_sem_seg_val"),
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
