"""The augmentations of ctxseg.data.transforms follow mmseg 0.19's semantics."""
import cv2
import numpy as np
import pytest
from detectron2.data import transforms as T

import ctxseg  # noqa: F401  (patches Detectron2 before it is used)
from ctxseg.data.transforms import (
    PIXEL_MEAN,
    AlignResize,
    CV2ResizeTransform,
    PadToSize,
    PhotometricDistortion,
    PhotometricTransform,
    RandomCropCategoryRatio,
    RandomRatioResize,
    ResizeKeepRatio,
    keep_ratio_size,
)

PIXEL_STD = (58.395, 57.12, 57.375)


def _image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _apply(aug, image, sem_seg=None):
    aug_input = T.AugInput(image, sem_seg=sem_seg)
    tfm = aug(aug_input)
    return aug_input, tfm


@pytest.mark.parametrize(
    "h, w, scale, expected",
    [
        (512, 683, (2048, 512), (512, 683)),
        (300, 100, (2048, 512), (1536, 512)),  # factor min(2048/300, 512/100) = 5.12
        (100, 1000, (2048, 512), (205, 2048)),  # long side capped: factor 2.048
        (375, 500, (512, 2048), (512, 683)),  # order of the scale does not matter
    ],
)
def test_keep_ratio_size(h, w, scale, expected):
    assert keep_ratio_size(h, w, scale) == expected


@pytest.mark.parametrize("seed", range(5))
def test_ratio_range_resize_follows_the_formula(seed):
    h, w = 48, 70
    np.random.seed(seed)
    ratio = np.random.random_sample() * 1.5 + 0.5  # mmseg: U[0.5, 2.0)
    long_edge, short_edge = int(2048 * ratio), int(512 * ratio)
    factor = min(long_edge / max(h, w), short_edge / min(h, w))
    expected = (int(h * factor + 0.5), int(w * factor + 0.5))

    np.random.seed(seed)
    label = np.random.default_rng(seed).integers(0, 5, size=(h, w)).astype(np.uint8)
    out, _ = _apply(RandomRatioResize((2048, 512), (0.5, 2.0)), _image(h, w), label)
    assert out.image.shape == expected + (3,)
    assert out.image.dtype == np.uint8
    assert out.sem_seg.shape == expected
    assert set(np.unique(out.sem_seg)) <= set(np.unique(label))


def test_resize_keep_ratio_is_ratio_one():
    out, _ = _apply(ResizeKeepRatio((2048, 512)), _image(256, 400))
    assert out.image.shape[:2] == (512, 800)


def test_cv2_resize_matches_opencv_and_keeps_label_dtype():
    image = _image(13, 17)
    tfm = CV2ResizeTransform(13, 17, 29, 23)
    expected = cv2.resize(image, (23, 29), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(tfm.apply_image(image), expected)

    label8 = np.random.default_rng(1).integers(0, 200, size=(13, 17)).astype(np.uint8)
    nearest = cv2.resize(label8, (23, 29), interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(tfm.apply_segmentation(label8), nearest)

    for dtype in (np.uint16, np.int32, np.int64):
        label = label8.astype(dtype) * 300  # values beyond 8 bits
        out = tfm.apply_segmentation(label)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, nearest.astype(dtype) * 300)


def test_cv2_resize_rejects_an_input_of_another_size():
    with pytest.raises(ValueError, match="13x17"):
        CV2ResizeTransform(13, 17, 20, 20).apply_image(_image(10, 10))


def test_align_resize_gives_multiples_of_32():
    label = np.zeros((512, 683), np.uint8)
    out, _ = _apply(AlignResize(32), _image(512, 683), label)
    assert out.image.shape[:2] == (512, 704)
    assert out.sem_seg.shape == (512, 704)
    out, _ = _apply(AlignResize(32), _image(100, 150))
    assert out.image.shape[:2] == (128, 160)
    image = _image(64, 96)
    out, tfm = _apply(AlignResize(32), image)
    assert isinstance(tfm, T.NoOpTransform)
    np.testing.assert_array_equal(out.image, image)


def test_test_pipeline_of_coc():
    pipeline = T.AugmentationList([ResizeKeepRatio((2048, 512)), AlignResize(32)])
    out, _ = _apply(pipeline, _image(375, 500))
    assert out.image.shape[:2] == (512, 704)  # 512x683, then stretched to 512x704


def _crop_is_balanced(crop, ratio, ignore=255):
    labels, counts = np.unique(crop, return_counts=True)
    counts = counts[labels != ignore]
    return len(counts) > 1 and counts.max() / counts.sum() < ratio


@pytest.mark.parametrize("seed", range(20))
def test_crop_obeys_cat_max_ratio(seed):
    # Mostly class 0, a band of class 1 and some ignore: many crops fail, some succeed.
    label = np.zeros((64, 64), np.uint8)
    label[:, 40:52] = 1
    label[:8] = 255
    np.random.seed(seed)
    out, tfm = _apply(RandomCropCategoryRatio((24, 24), 0.75), _image(64, 64), label)
    assert out.sem_seg.shape == (24, 24)
    assert _crop_is_balanced(out.sem_seg, 0.75)
    np.testing.assert_array_equal(out.sem_seg, label[tfm.y0 : tfm.y0 + 24, tfm.x0 : tfm.x0 + 24])


def test_crop_takes_one_more_unchecked_draw_when_every_check_fails():
    label = np.full((50, 60), 3, np.uint8)  # no crop can hold two labels
    np.random.seed(7)
    _, tfm = _apply(RandomCropCategoryRatio((20, 30), 0.75, max_tries=10), _image(50, 60), label)
    np.random.seed(7)
    draws = [(np.random.randint(0, 31), np.random.randint(0, 31)) for _ in range(11)]
    assert (tfm.y0, tfm.x0) == draws[-1]


def test_crop_ignores_the_ignore_label():
    # 2 labels once 255 is ignored, but class 1 covers 80% of the rest: never accepted.
    label = np.full((10, 10), 255, np.uint8)
    label[:, :4] = 1
    label[:1, 4:5] = 2
    aug = RandomCropCategoryRatio((10, 10), 0.75)
    assert not aug._accepted(label)
    label[:, 4:6] = 2  # 40 vs 20 pixels: 0.67 < 0.75
    assert aug._accepted(label)


def test_image_smaller_than_the_crop_keeps_its_size():
    label = np.arange(20 * 100).reshape(20, 100) % 7
    out, _ = _apply(RandomCropCategoryRatio((64, 64), 1.0), _image(20, 100), label)
    assert out.image.shape[:2] == (20, 64)
    out, _ = _apply(RandomCropCategoryRatio((64, 64), 0.75), _image(20, 30), label[:, :30])
    assert out.image.shape[:2] == (20, 30)


def test_pad_to_size_pads_with_the_mean_and_ignore():
    image = _image(5, 7)
    label = np.full((5, 7), 4, np.uint8)
    out, _ = _apply(PadToSize((8, 10)), image, label)
    assert out.image.dtype == np.float32 and out.image.shape == (8, 10, 3)
    np.testing.assert_array_equal(out.image[:5, :7], image.astype(np.float32))
    normalised = (out.image - np.float32(PIXEL_MEAN)) / np.float32(PIXEL_STD)
    assert np.all(normalised[5:] == 0) and np.all(normalised[:, 7:] == 0)
    assert out.sem_seg.dtype == np.uint8
    assert np.all(out.sem_seg[:5, :7] == 4)
    assert np.all(out.sem_seg[5:] == 255) and np.all(out.sem_seg[:, 7:] == 255)


def test_pad_to_size_widens_a_label_dtype_that_cannot_hold_the_ignore_value():
    out, _ = _apply(PadToSize((4, 4), ignore_label=65535), _image(2, 2), np.ones((2, 2), np.uint8))
    assert out.sem_seg.dtype == np.uint16
    assert out.sem_seg[3, 3] == 65535 and out.sem_seg[0, 0] == 1


def test_pad_to_size_refuses_a_larger_image():
    with pytest.raises(ValueError, match="9x7"):
        _apply(PadToSize((8, 8)), _image(9, 7))


@pytest.mark.parametrize("seed", range(10))
def test_photometric_distortion_keeps_uint8_and_leaves_labels(seed):
    image = _image(16, 20, seed)
    label = np.random.default_rng(seed).integers(0, 300, size=(16, 20)).astype(np.uint16)
    np.random.seed(seed)
    out, tfm = _apply(PhotometricDistortion(), image.copy(), label.copy())
    assert out.image.dtype == np.uint8 and out.image.shape == image.shape
    np.testing.assert_array_equal(out.sem_seg, label)
    assert out.sem_seg.dtype == np.uint16
    if tfm.brightness is not None:
        assert -32 <= tfm.brightness <= 32
    if tfm.contrast is not None:
        assert 0.5 <= tfm.contrast <= 1.5
    if tfm.hue is not None:
        assert -18 <= tfm.hue < 18


def test_photometric_steps_clip_and_truncate():
    image = np.full((2, 2, 3), 101, np.uint8)
    assert np.all(PhotometricTransform(brightness=200).apply_image(image) == 255)
    assert np.all(PhotometricTransform(brightness=-200).apply_image(image) == 0)
    assert np.all(PhotometricTransform(contrast=1.5).apply_image(image) == 151)  # 151.5 truncated
    grey = np.full((2, 2, 3), 128, np.uint8)  # no saturation: hue and saturation change nothing
    out = PhotometricTransform(saturation=1.5, hue=10).apply_image(grey)
    np.testing.assert_array_equal(out, grey)


def test_photometric_hue_uses_rgb_codes():
    red = np.zeros((1, 1, 3), np.uint8)
    red[..., 0] = 255  # pure red in RGB: hue 0; +60 on the 0..180 scale (120 degrees) is green
    out = PhotometricTransform(hue=60).apply_image(red)
    # BGR codes would read this pixel as blue and turn it into [0, 0, 255].
    np.testing.assert_array_equal(out[0, 0], [0, 255, 0])


def test_photometric_distortion_is_seeded():
    image = _image(8, 8)
    results = []
    for _ in range(2):
        np.random.seed(3)
        results.append([_apply(PhotometricDistortion(), image.copy())[0].image for _ in range(5)])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_photometric_distortion_rejects_float_images():
    with pytest.raises(ValueError, match="uint8"):
        PhotometricTransform(brightness=1.0).apply_image(np.zeros((2, 2, 3), np.float32))
