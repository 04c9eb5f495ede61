"""Augmentations Detectron2 lacks, with MMSegmentation 0.19 semantics.

All of them work on numpy HWC uint8 RGB images and HxW integer label maps of any integer dtype
(uint8, uint16, int32, ...). Labels are never converted to another dtype by a resize or a crop,
and never clipped to 8 bits. Randomness comes from numpy's global RNG, so ``np.random.seed``
makes a pipeline reproducible.

A training pipeline in MMSegmentation's order::

    [RandomRatioResize((2048, 512), (0.5, 2.0)), RandomCropCategoryRatio((512, 512), 0.75),
     T.RandomFlip(), PhotometricDistortion(), PadToSize((512, 512))]

and a test pipeline: ``[ResizeKeepRatio((2048, 512))]`` (plus ``AlignResize(32)`` for CoC); the views of a
multi-scale test are the same pipeline with ``ResizeKeepRatio(..., ratio=r)`` (``scaled_test_augmentations``).
"""
import math

import cv2
import numpy as np
from detectron2.data.transforms import Augmentation, CropTransform, NoOpTransform, Transform

__all__ = [
    "PIXEL_MEAN",
    "keep_ratio_size",
    "resize_nearest",
    "CV2ResizeTransform",
    "RandomRatioResize",
    "ResizeKeepRatio",
    "scaled_test_augmentations",
    "AlignResize",
    "RandomCropCategoryRatio",
    "PhotometricTransform",
    "PhotometricDistortion",
    "PadToSizeTransform",
    "PadToSize",
]

PIXEL_MEAN = (123.675, 116.28, 103.53)
"""The RGB mean of the model's normalisation: padding with it gives 0 after normalising."""


def keep_ratio_size(h, w, scale):
    """New (h, w) of mmcv's keep-ratio rescale of an h x w image to ``scale`` = (long, short)."""
    long_edge, short_edge = max(scale), min(scale)
    factor = min(long_edge / max(h, w), short_edge / min(h, w))
    return int(h * factor + 0.5), int(w * factor + 0.5)


def resize_nearest(label, new_h, new_w):
    """Nearest-neighbour resize of an HxW array of any dtype, identical to cv2.INTER_NEAREST."""
    h, w = label.shape[:2]
    # OpenCV's rule: source index = floor(dst index / (dst size / src size)), clamped.
    rows = np.minimum(np.floor(np.arange(new_h) * (1.0 / (new_h / h))).astype(np.int64), h - 1)
    cols = np.minimum(np.floor(np.arange(new_w) * (1.0 / (new_w / w))).astype(np.int64), w - 1)
    return label[rows[:, None], cols[None, :]]


def _check_size(name, array, h, w):
    if array.shape[:2] != (h, w):
        raise ValueError(
            f"{name} was made for an input of size {h}x{w} (HxW), "
            f"got an array of size {array.shape[0]}x{array.shape[1]}"
        )


class CV2ResizeTransform(Transform):
    """Resize to (new_h, new_w): image cv2 bilinear (no antialiasing, as mmcv), label nearest."""

    def __init__(self, h, w, new_h, new_w):
        super().__init__()
        self._set_attributes(locals())

    def apply_image(self, img):
        """Bilinear resize of an HxW or HxWxC image (uint8 or float)."""
        _check_size("CV2ResizeTransform", img, self.h, self.w)
        if (self.new_h, self.new_w) == (self.h, self.w):
            return img
        out = cv2.resize(
            np.ascontiguousarray(img), (self.new_w, self.new_h), interpolation=cv2.INTER_LINEAR
        )
        if img.ndim == 3 and out.ndim == 2:  # cv2 drops a trailing channel of size 1
            out = out[:, :, None]
        return out

    def apply_segmentation(self, segmentation):
        """Nearest-neighbour resize of an HxW label map, keeping its dtype."""
        _check_size("CV2ResizeTransform", segmentation, self.h, self.w)
        return resize_nearest(segmentation, self.new_h, self.new_w)

    def apply_coords(self, coords):
        """Scale Nx2 (x, y) coordinates."""
        coords[:, 0] = coords[:, 0] * (self.new_w / self.w)
        coords[:, 1] = coords[:, 1] * (self.new_h / self.h)
        return coords

    def inverse(self):
        """The resize back to the original size."""
        return CV2ResizeTransform(self.new_h, self.new_w, self.h, self.w)


class RandomRatioResize(Augmentation):
    """mmseg's ratio-range keep-ratio resize: scale (int(L*r), int(S*r)) with r ~ U(ratio_range)."""

    def __init__(self, base_scale=(2048, 512), ratio_range=(0.5, 2.0)):
        """
        Args:
            base_scale: (long, short) edge limits at ratio 1, e.g. (2048, 512), in any order.
            ratio_range: (low, high) of the uniform ratio, or None for ratio 1 (test-time resize).
        """
        super().__init__()
        self._init(locals())

    def get_transform(self, image):
        h, w = image.shape[:2]
        if self.ratio_range is None:
            scale = tuple(self.base_scale)
        else:
            ratio = self._rand_range(self.ratio_range[0], self.ratio_range[1])
            scale = (int(self.base_scale[0] * ratio), int(self.base_scale[1] * ratio))
        new_h, new_w = keep_ratio_size(h, w, scale)
        return CV2ResizeTransform(h, w, new_h, new_w)


class ResizeKeepRatio(Augmentation):
    """The test-time resize: keep the ratio, fit in ``base_scale`` x ``ratio`` = (int(long r), int(short r)).

    A ratio other than 1 makes one view of MMSegmentation's multi-scale test (``MultiScaleFlipAug``).
    """

    def __init__(self, base_scale=(2048, 512), ratio=1.0):
        super().__init__()
        self._init(locals())

    def get_transform(self, image):
        h, w = image.shape[:2]
        scale = (int(self.base_scale[0] * self.ratio), int(self.base_scale[1] * self.ratio))
        return CV2ResizeTransform(h, w, *keep_ratio_size(h, w, scale))


def scaled_test_augmentations(augmentations, ratio):
    """The test pipeline ``augmentations`` with every ``ResizeKeepRatio`` at ``ratio`` (one multi-scale view)."""
    if ratio != 1.0 and not any(isinstance(a, ResizeKeepRatio) for a in augmentations):
        raise ValueError(f"a multi-scale test (ratio {ratio}) needs a ResizeKeepRatio in the test pipeline, whose "
                         f"scale it multiplies; the pipeline is {list(augmentations)}")
    return [ResizeKeepRatio(a.base_scale, ratio * a.ratio) if isinstance(a, ResizeKeepRatio) else a
            for a in augmentations]


class AlignResize(Augmentation):
    """Resize (stretch, not pad) to the next multiples of ``size_divisor`` (CoC's test pipeline)."""

    def __init__(self, size_divisor=32):
        super().__init__()
        self._init(locals())

    def get_transform(self, image):
        h, w = image.shape[:2]
        new_h = int(math.ceil(h / self.size_divisor)) * self.size_divisor
        new_w = int(math.ceil(w / self.size_divisor)) * self.size_divisor
        if (new_h, new_w) == (h, w):
            return NoOpTransform()
        return CV2ResizeTransform(h, w, new_h, new_w)


class RandomCropCategoryRatio(Augmentation):
    """mmseg's RandomCrop: retry until no label covers >= cat_max_ratio of the crop (rule below)."""

    def __init__(self, crop_size=(512, 512), cat_max_ratio=0.75, ignore_label=255, max_tries=10):
        """
        Args:
            crop_size: (h, w); an image smaller than it on a side keeps that side.
            cat_max_ratio: a crop is accepted when its most frequent label (``ignore_label``
                excluded) covers less than this fraction and it has at least 2 labels;
                1.0 disables the check.
            max_tries: checked draws; when all fail, one more crop is drawn and used unchecked.
        """
        super().__init__()
        self._init(locals())

    def _draw(self, h, w):
        crop_h, crop_w = min(self.crop_size[0], h), min(self.crop_size[1], w)
        y0 = np.random.randint(0, h - crop_h + 1)
        x0 = np.random.randint(0, w - crop_w + 1)
        return y0, x0, crop_h, crop_w

    def _accepted(self, crop):
        labels, counts = np.unique(crop, return_counts=True)
        counts = counts[labels != self.ignore_label]
        return len(counts) > 1 and counts.max() / counts.sum() < self.cat_max_ratio

    def get_transform(self, image, sem_seg):
        h, w = image.shape[:2]
        y0, x0, crop_h, crop_w = self._draw(h, w)
        if self.cat_max_ratio < 1.0:
            if sem_seg is None:
                raise ValueError(
                    "RandomCropCategoryRatio with cat_max_ratio < 1 needs the label map "
                    "(AugInput.sem_seg), got None; use it in training pipelines only"
                )
            for _ in range(self.max_tries):
                if self._accepted(sem_seg[y0 : y0 + crop_h, x0 : x0 + crop_w]):
                    break
                y0, x0, crop_h, crop_w = self._draw(h, w)
        return CropTransform(x0, y0, crop_w, crop_h, orig_w=w, orig_h=h)


def _convert(values, alpha=1.0, beta=0.0):
    """mmseg's PhotoMetricDistortion.convert: x * alpha + beta, clipped, truncated to uint8."""
    return np.clip(values.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)


class PhotometricTransform(Transform):
    """Deterministic photometric change of a uint8 RGB image; a None parameter skips its step."""

    def __init__(
        self, brightness=None, contrast=None, contrast_first=False, saturation=None, hue=None
    ):
        """
        Args:
            brightness: value added to every channel.
            contrast: factor applied to every channel, before the HSV steps when
                ``contrast_first`` else after them.
            saturation: factor applied to the HSV saturation channel.
            hue: shift of the HSV hue on OpenCV's 0..180 scale (modulo 180).
        """
        super().__init__()
        self._set_attributes(locals())

    def apply_image(self, img):
        """Apply the steps in mmseg's order; every step clips to [0, 255]."""
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(
                "PhotometricDistortion expects an HxWx3 uint8 RGB image, got an array of shape "
                f"{img.shape} and dtype {img.dtype} (put it before PadToSize, which makes float32)"
            )
        img = np.ascontiguousarray(img)
        if self.brightness is not None:
            img = _convert(img, beta=self.brightness)
        if self.contrast_first and self.contrast is not None:
            img = _convert(img, alpha=self.contrast)
        if self.saturation is not None:
            hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
            hsv[:, :, 1] = _convert(hsv[:, :, 1], alpha=self.saturation)
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        if self.hue is not None:
            hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
            hsv[:, :, 0] = (hsv[:, :, 0].astype(np.int64) + self.hue) % 180
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        if not self.contrast_first and self.contrast is not None:
            img = _convert(img, alpha=self.contrast)
        return img

    def apply_segmentation(self, segmentation):
        """Labels are unchanged."""
        return segmentation

    def apply_coords(self, coords):
        """Coordinates are unchanged."""
        return coords

    def inverse(self):
        """Not invertible in pixel values; geometrically the identity."""
        return NoOpTransform()


class PhotometricDistortion(Augmentation):
    """mmseg's PhotoMetricDistortion on uint8 RGB: brightness, contrast, saturation, hue (p 0.5)."""

    def __init__(
        self,
        brightness_delta=32,
        contrast_range=(0.5, 1.5),
        saturation_range=(0.5, 1.5),
        hue_delta=18,
    ):
        super().__init__()
        self._init(locals())

    def _maybe_contrast(self):
        if np.random.randint(2):
            return float(self._rand_range(*self.contrast_range))
        return None

    def get_transform(self, image):
        # The draws follow mmseg's order so that a seeded run makes the same choices.
        brightness = None
        if np.random.randint(2):
            brightness = float(self._rand_range(-self.brightness_delta, self.brightness_delta))
        contrast_first = bool(np.random.randint(2))
        contrast = self._maybe_contrast() if contrast_first else None
        saturation = None
        if np.random.randint(2):
            saturation = float(self._rand_range(*self.saturation_range))
        hue = None
        if np.random.randint(2):
            # numpy's randint excludes the high end, as in mmseg: shifts in [-delta, delta).
            hue = int(np.random.randint(-self.hue_delta, self.hue_delta))
        if not contrast_first:
            contrast = self._maybe_contrast()
        return PhotometricTransform(brightness, contrast, contrast_first, saturation, hue)


class PadToSizeTransform(Transform):
    """Pad an h x w input at the bottom/right to pad_h x pad_w; the image becomes float32."""

    def __init__(self, h, w, pad_h, pad_w, image_value=PIXEL_MEAN, seg_value=255):
        super().__init__()
        self._set_attributes(locals())

    def apply_image(self, img):
        """Pad with ``image_value`` (a scalar or one value per channel) into a float32 array."""
        _check_size("PadToSizeTransform", img, self.h, self.w)
        out = np.empty((self.pad_h, self.pad_w) + img.shape[2:], dtype=np.float32)
        out[...] = np.asarray(self.image_value, dtype=np.float32)
        out[: self.h, : self.w] = img
        return out

    def apply_segmentation(self, segmentation):
        """Pad with ``seg_value``, widening the dtype only if that value does not fit in it."""
        _check_size("PadToSizeTransform", segmentation, self.h, self.w)
        dtype = np.promote_types(segmentation.dtype, np.min_scalar_type(self.seg_value))
        out = np.full((self.pad_h, self.pad_w), self.seg_value, dtype=dtype)
        out[: self.h, : self.w] = segmentation
        return out

    def apply_coords(self, coords):
        """Coordinates are unchanged (padding is at the bottom/right)."""
        return coords

    def inverse(self):
        """The crop back to the original size."""
        return CropTransform(0, 0, self.w, self.h, orig_w=self.pad_w, orig_h=self.pad_h)


class PadToSize(Augmentation):
    """Pad bottom/right to exactly ``size`` = (h, w): image with the pixel mean, label ignore."""

    def __init__(self, size=(512, 512), image_value=PIXEL_MEAN, ignore_label=255):
        """
        Args:
            size: (h, w) of the output; the input must not be larger.
            image_value: the image padding, the model's pixel mean so that it normalises to 0.
            ignore_label: the label padding.
        """
        super().__init__()
        self._init(locals())

    def get_transform(self, image):
        h, w = image.shape[:2]
        pad_h, pad_w = self.size
        if h > pad_h or w > pad_w:
            raise ValueError(
                f"PadToSize(size={tuple(self.size)}) got a larger image of size {h}x{w} (HxW); "
                "crop to the pad size first (RandomCropCategoryRatio with the same crop_size)"
            )
        return PadToSizeTransform(h, w, pad_h, pad_w, self.image_value, self.ignore_label)
