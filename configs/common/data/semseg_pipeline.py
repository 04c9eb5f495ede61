"""The benchmark pipeline (MMSegmentation 0.x's) as one builder the dataset configs share.

Train: ratio-range keep-ratio resize of ``base_scale``, category-aware crop, flip, photometric distortion,
pad to the crop. Test: keep-ratio resize to ``base_scale`` (plus ``extra_test_augmentations``); with
``model.tta_scales`` set, one such resize of the original image per ratio (``base_scale`` x ratio).

The train loader is ``ResumableTrainLoader``: its data order and augmentation draws are functions of
``train.seed`` and the sample's position, so ``--resume`` continues exactly where a run stopped.
"""
from detectron2.config import LazyCall as L
from detectron2.data import build_detection_test_loader
from detectron2.data.transforms import RandomFlip
from omegaconf import OmegaConf

from ctxseg.data import (
    PadToSize,
    PhotometricDistortion,
    RandomCropCategoryRatio,
    RandomRatioResize,
    ResizeKeepRatio,
    ResumableTrainLoader,
    SemSegDatasetMapper,
    get_dataset_dicts,
)
from ctxseg.evaluation import SemSegEvaluator


def semseg_dataloader(train_name, test_name, num_classes, crop_size, base_scale, ratio_range=(0.5, 2.0),
                      ignore_label=255, batch_size=16, num_workers=4, extra_test_augmentations=()):
    """``dataloader`` (train, test, evaluator) of a LazyConfig for one semantic-segmentation dataset."""
    dataloader = OmegaConf.create()
    dataloader.train = L(ResumableTrainLoader)(
        dataset=L(get_dataset_dicts)(name=train_name),
        mapper=L(SemSegDatasetMapper)(
            is_train=True,
            augmentations=[
                L(RandomRatioResize)(base_scale=base_scale, ratio_range=ratio_range),
                L(RandomCropCategoryRatio)(crop_size=crop_size, cat_max_ratio=0.75, ignore_label=ignore_label),
                L(RandomFlip)(horizontal=True),
                L(PhotometricDistortion)(),
                L(PadToSize)(size=crop_size, ignore_label=ignore_label),
            ],
            num_classes=num_classes,
            ignore_label=ignore_label,
        ),
        total_batch_size=batch_size,
        num_workers=num_workers,
        seed="${oc.select:train.seed,0}",  # the run's train.seed (0 when the config has no train section)
    )
    dataloader.test = L(build_detection_test_loader)(
        dataset=L(get_dataset_dicts)(name=test_name),
        mapper=L(SemSegDatasetMapper)(
            is_train=False,
            augmentations=[L(ResizeKeepRatio)(base_scale=base_scale), *extra_test_augmentations],
            num_classes=num_classes,
            ignore_label=ignore_label,
            # The multi-scale test's views are made here, from the original image, at the model's ratios.
            tta_scales="${oc.select:model.tta_scales,null}",
        ),
        num_workers=num_workers,
    )
    dataloader.evaluator = L(SemSegEvaluator)(dataset_name="${..test.dataset.name}",
                                              output_dir="${train.output_dir}/inference")
    return dataloader
