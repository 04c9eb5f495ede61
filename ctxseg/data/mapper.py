"""The semantic-segmentation dataset mapper: reads an image and its label as stored, augments them.

Detectron2's default ``DatasetMapper`` converts label images to "L" (palette indices become
luminance) and to uint8 (16-bit labels are clipped); this mapper keeps the stored values.
"""
import copy

import numpy as np
import torch
from PIL import Image

from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T

__all__ = ["SemSegDatasetMapper", "read_label"]

# Single-channel PIL modes whose values are label ids: palette indices, 8/16/32-bit integers.
_LABEL_MODES = ("P", "L", "1", "I", "I;16", "I;16L", "I;16B", "I;16N")


def read_label(file_name):
    """Read a label image as stored (palette indices, 8/16/32-bit values) as int32 HxW."""
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
        raise FileNotFoundError(f"Label file not found: {file_name}") from None
    except OSError as e:
        raise OSError(f"Cannot read label file {file_name}: {e}") from e
    # int32 holds every stored label type (uint8, uint16, int32) and leaves room for reductions.
    return label.astype(np.int32)


def _read_image(file_name, image_format):
    try:
        return utils.read_image(file_name, format=image_format)
    except FileNotFoundError:
        raise FileNotFoundError(f"Image file not found: {file_name}") from None
    except OSError as e:
        raise OSError(f"Cannot read image file {file_name}: {e}") from e


class SemSegDatasetMapper:
    """Map a dataset dict to the segmentor's input: {"image", "sem_seg", "height", "width", ...}.

    Training applies every augmentation to the image and the label. Test applies them to the
    image only and returns "sem_seg" at the original size, where the segmentor resizes its
    prediction back to ("height", "width") and the evaluator compares them.

    The output "image" is a CHW tensor: uint8, or float32 when the pipeline pads (``PadToSize``
    makes float32 images so that the padding is exactly the pixel mean). "sem_seg" is int64 HxW.
    """

    def __init__(self, is_train, augmentations, num_classes, ignore_label=255, image_format="RGB"):
        """
        Args:
            is_train: training (augment image and label) or test (augment the image only).
            augmentations: list of Detectron2 ``Augmentation`` or ``Transform``.
            num_classes: label values must be in [0, num_classes) or equal ``ignore_label``.
            ignore_label: the label value that no loss or metric counts.
            image_format: the format given to Detectron2's ``read_image`` ("RGB" or "BGR").
        """
        self.is_train = is_train
        self.augmentations = T.AugmentationList(list(augmentations))
        self.num_classes = num_classes
        self.ignore_label = ignore_label
        self.image_format = image_format

    def __repr__(self):
        return (
            f"SemSegDatasetMapper(is_train={self.is_train}, augmentations={self.augmentations}, "
            f"num_classes={self.num_classes}, ignore_label={self.ignore_label}, "
            f"image_format={self.image_format!r})"
        )

    def __call__(self, dataset_dict):
        """Read, check and augment one dataset dict into a new dict (the input is unchanged)."""
        dataset_dict = copy.copy(dataset_dict)
        image_file = dataset_dict["file_name"]
        label_file = dataset_dict.get("sem_seg_file_name")
        image = _read_image(image_file, self.image_format)
        height, width = image.shape[:2]

        label = None
        if label_file is not None:
            label = read_label(label_file)
            if label.shape != (height, width):
                raise ValueError(
                    f"Image and label sizes differ: image {image_file} is {height}x{width} (HxW), "
                    f"label {label_file} is {label.shape[0]}x{label.shape[1]}"
                )
            reduce_zero_label = dataset_dict.get("reduce_zero_label", False)
            if reduce_zero_label:
                label = self._reduce_zero_label(label)
            self._check_label_values(label, label_file, reduce_zero_label)
        elif self.is_train:
            raise ValueError(
                f"Training needs a label: the dataset dict of {image_file} "
                "has no 'sem_seg_file_name'"
            )

        if self.is_train:
            aug_input = T.AugInput(image, sem_seg=label)
            self.augmentations(aug_input)
            image, label = aug_input.image, aug_input.sem_seg
        else:
            aug_input = T.AugInput(image)
            self.augmentations(aug_input)
            image = aug_input.image

        dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
        if label is not None:
            dataset_dict["sem_seg"] = torch.as_tensor(label.astype(np.int64))
        dataset_dict["height"] = height
        dataset_dict["width"] = width
        return dataset_dict

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
