"""The semantic-segmentation dataset mapper: reads an image and its label as stored, augments them.

Detectron2's default ``DatasetMapper`` converts label images to "L" (palette indices become
luminance) and to uint8 (16-bit labels are clipped); this mapper keeps the stored values.
"""
import numpy as np
import torch
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from PIL import Image

from ..utils.errors import UnreadableFileError
from .datasets.common import MissingDataError
from .transforms import scaled_test_augmentations

__all__ = ["SemSegDatasetMapper", "read_image", "read_label"]

# Single-channel PIL modes whose values are label ids: palette indices, 8/16/32-bit integers.
_LABEL_MODES = ("P", "L", "1", "I", "I;16", "I;16L", "I;16B", "I;16N")


def read_label(file_name):
    """Read a label image as stored (palette indices, 8/16/32-bit values) as int32 HxW.

    A missing file is a ``MissingDataError``, an undecodable one an ``UnreadableFileError``; both name it.
    """
    try:
        with Image.open(file_name) as label_image:
            mode = label_image.mode
            if mode not in _LABEL_MODES:
                raise ValueError(
                    f"Label file {file_name} has PIL mode '{mode}'; a label must be a "
                    "single-channel image of integer class ids "
                    f"(one of the modes {', '.join(_LABEL_MODES)})"
                )
            label = np.array(label_image)
    except FileNotFoundError:
        raise MissingDataError(f"Label file not found: {file_name}") from None
    except OSError as e:
        raise UnreadableFileError(f"Cannot read label file {file_name}: {e}") from e
    # int32 holds every stored label type (uint8, uint16, int32) and leaves room for reductions.
    return label.astype(np.int32)


def read_image(file_name, image_format="RGB"):
    """Detectron2's ``read_image``; a missing or undecodable file is a ``DataError`` that names it."""
    try:
        return utils.read_image(file_name, format=image_format)
    except FileNotFoundError:
        raise MissingDataError(f"Image file not found: {file_name}") from None
    except OSError as e:
        raise UnreadableFileError(f"Cannot read image file {file_name}: {e}") from e


def _augmented(image, augmentations):
    aug_input = T.AugInput(image)
    augmentations(aug_input)
    return aug_input.image


def _chw(image):
    return torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))


class SemSegDatasetMapper:
    """Map a dataset dict to the segmentor's input: {"image", "sem_seg", "height", "width", ...}.

    Training applies every augmentation to the image and the label. Test applies them to the
    image only and returns "sem_seg" at the original size, where the segmentor resizes its
    prediction back to ("height", "width") and the evaluator compares them.

    The output "image" is a CHW tensor: uint8, or float32 when the pipeline pads (``PadToSize``
    makes float32 images so that the padding is exactly the pixel mean). "sem_seg" is int64 HxW.

    A multi-scale test (``tta_scales``) also returns "tta_views": one ``{"image", "ratio"}`` per ratio,
    the *original* image through the test pipeline with its ``ResizeKeepRatio`` scale times the ratio,
    as MMSegmentation 0.x's ``MultiScaleFlipAug`` makes them (the segmentor adds the flips).
    """

    def __init__(self, is_train, augmentations, num_classes, ignore_label=255, image_format="RGB",
                 tta_scales=None):
        """
        Args:
            is_train: training (augment image and label) or test (augment the image only).
            augmentations: list of Detectron2 ``Augmentation`` or ``Transform``.
            num_classes: label values must be in [0, num_classes) or equal ``ignore_label``.
            ignore_label: the label value that no loss or metric counts.
            image_format: the format given to Detectron2's ``read_image`` ("RGB" or "BGR").
            tta_scales: test only: the ratios of a multi-scale test (None: single scale), the model's
                ``tta_scales``.
        """
        self.is_train = is_train
        self.augmentation_list = list(augmentations)
        self.augmentations = T.AugmentationList(self.augmentation_list)
        self.num_classes = num_classes
        self.ignore_label = ignore_label
        self.image_format = image_format
        self.tta_scales = None if tta_scales is None else tuple(float(r) for r in tta_scales)
        if self.tta_scales is not None:
            for ratio in self.tta_scales:
                scaled_test_augmentations(self.augmentation_list, ratio)  # fail now if a ratio cannot apply

    def __repr__(self):
        return (
            f"SemSegDatasetMapper(is_train={self.is_train}, augmentations={self.augmentations}, "
            f"num_classes={self.num_classes}, ignore_label={self.ignore_label}, "
            f"image_format={self.image_format!r}, tta_scales={self.tta_scales})"
        )

    def __call__(self, dataset_dict):
        """Read, check and augment one dataset dict into a new dict (the input is unchanged)."""
        image = read_image(dataset_dict["file_name"], self.image_format)
        label_file = dataset_dict.get("sem_seg_file_name")
        label = None
        if label_file is not None:
            label = read_label(label_file)
        elif self.is_train:
            raise ValueError(
                f"Training needs a label: the dataset dict of {dataset_dict['file_name']} "
                "has no 'sem_seg_file_name'"
            )
        return self.map_image(image, label, dataset_dict)

    def map_image(self, image, label=None, dataset_dict=None):
        """Augment an image already read (HxWx3 uint8 in ``image_format``) and its optional label.

        ``dataset_dict`` (copied, not changed) supplies the file names for messages and
        ``reduce_zero_label``; the result is what ``__call__`` returns for a file.
        """
        dataset_dict = dict(dataset_dict or {})
        image_file = dataset_dict.get("file_name", "<image>")
        label_file = dataset_dict.get("sem_seg_file_name", "<label>")
        height, width = image.shape[:2]
        if label is not None:
            if label.shape != (height, width):
                raise ValueError(
                    f"Image and label sizes differ: image {image_file} is {height}x{width} (HxW), "
                    f"label {label_file} is {label.shape[0]}x{label.shape[1]}"
                )
            reduce_zero_label = dataset_dict.get("reduce_zero_label", False)
            if reduce_zero_label:
                label = self._reduce_zero_label(label)
            self._check_label_values(label, label_file, reduce_zero_label)

        if self.is_train:
            aug_input = T.AugInput(image, sem_seg=label)
            self.augmentations(aug_input)
            dataset_dict["image"], label = _chw(aug_input.image), aug_input.sem_seg
        else:
            dataset_dict["image"] = _chw(_augmented(image, self.augmentations))
            if self.tta_scales is not None:
                dataset_dict["tta_views"] = [{"ratio": ratio, "image": self._view(image, ratio, dataset_dict["image"])}
                                             for ratio in self.tta_scales]
        if label is not None:
            dataset_dict["sem_seg"] = torch.as_tensor(label.astype(np.int64))
        dataset_dict["height"] = height
        dataset_dict["width"] = width
        return dataset_dict

    def _view(self, image, ratio, unscaled):
        if ratio == 1.0:
            return unscaled
        return _chw(_augmented(image, T.AugmentationList(scaled_test_augmentations(self.augmentation_list, ratio))))

    def _reduce_zero_label(self, label):
        # ADE20K's raw rule: 0 (unlabelled) -> ignore, k -> k - 1. The label is int32, so neither
        # the subtraction nor a 16-bit ignore value can overflow.
        reduced = label - 1
        reduced[label == 0] = self.ignore_label
        return reduced

    def _check_label_values(self, label, label_file, reduced):
        values = np.unique(label)
        bad = values[((values < 0) | (values >= self.num_classes)) & (values != self.ignore_label)]
        if len(bad):
            shown = ", ".join(str(v) for v in bad[:10]) + (", ..." if len(bad) > 10 else "")
            when = " after reducing the zero label (stored value - 1)" if reduced else ""
            raise ValueError(
                f"Label file {label_file} has values{when} that are neither a class id "
                f"(0..{self.num_classes - 1}) nor the ignore label ({self.ignore_label}): {shown}"
            )
