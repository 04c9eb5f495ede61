"""Datasets (catalog entries), the dataset mapper and augmentations."""
from . import datasets  # noqa: F401
from .datasets import check_dataset_names, get_dataset_dicts  # noqa: F401
from .mapper import SemSegDatasetMapper  # noqa: F401
from .train_loader import ResumableTrainLoader  # noqa: F401
from .transforms import (  # noqa: F401
    PIXEL_MEAN,
    AlignResize,
    CV2ResizeTransform,
    PadToSize,
    PhotometricDistortion,
    RandomCropCategoryRatio,
    RandomRatioResize,
    ResizeKeepRatio,
)
