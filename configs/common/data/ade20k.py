"""ADE20K (150 classes), the seed papers' pipeline: 512x512 crops from a (2048, 512) base scale.

Train: ratio-range resize (0.5, 2.0) of (2048, 512), 512x512 crop with cat_max_ratio 0.75, flip, photometric
distortion, pad to the crop. Test: keep-ratio resize to (2048, 512). 16 images per iteration in all
(2 per GPU on 8 GPUs). ``ade20k_sem_seg_*`` need ``tools/prepare_ade20k.py``; set
``dataloader.train.dataset.name = "ade20k_raw_sem_seg_train"`` (and val) to read the raw labels instead.
Inference mode is a model setting: ``model.test_mode = "slide"``, ``model.crop_size = SLIDE_CROP``,
``model.stride = SLIDE_STRIDE`` (IIWA Swin-S/B), or ``"whole"`` (IIWA Swin-L).
"""
from detectron2.config import LazyCall as L
from detectron2.data import build_detection_test_loader, build_detection_train_loader
from detectron2.data.transforms import RandomFlip
from omegaconf import OmegaConf

from ctxseg.data import (PadToSize, PhotometricDistortion, RandomCropCategoryRatio, RandomRatioResize,
                         ResizeKeepRatio, SemSegDatasetMapper, get_dataset_dicts)
from ctxseg.evaluation import SemSegEvaluator

NUM_CLASSES = 150
IGNORE_LABEL = 255
CROP_SIZE = (512, 512)
BASE_SCALE = (2048, 512)  # (long, short)
SLIDE_CROP = (512, 512)
SLIDE_STRIDE = (341, 341)  # MMSegmentation's ADE20K default; IIWA's configs use (384, 384): IIWA_SLIDE_STRIDE
IIWA_SLIDE_STRIDE = (384, 384)
TTA_RATIOS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)

dataloader = OmegaConf.create()
dataloader.train = L(build_detection_train_loader)(
    dataset=L(get_dataset_dicts)(name="ade20k_sem_seg_train"),
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
    dataset=L(get_dataset_dicts)(name="ade20k_sem_seg_val"),
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
