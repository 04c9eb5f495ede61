"""SemSegDatasetMapper reads labels as stored, keeps image and label aligned, explains errors."""
import cv2
import numpy as np
import pytest
import torch
from detectron2.data import transforms as T
from PIL import Image

import ctxseg  # noqa: F401  (patches Detectron2 before it is used)
from ctxseg.data import (
    PIXEL_MEAN,
    PadToSize,
    PhotometricDistortion,
    RandomCropCategoryRatio,
    RandomRatioResize,
    ResizeKeepRatio,
    SemSegDatasetMapper,
)


def _write_rgb(path, image):
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return str(path)


def _write_label(path, label):
    Image.fromarray(label).save(str(path))
    return str(path)


def _pair(tmp_path, image, label, name="a"):
    return {
        "file_name": _write_rgb(tmp_path / f"{name}.png", image),
        "sem_seg_file_name": _write_label(tmp_path / f"{name}_label.png", label),
    }


def _coordinate_image(h, w):
    """R = 2x, G = 2y: after any resize/crop/flip a pixel says where it came from."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([2 * xx, 2 * yy, np.full_like(xx, 128)], axis=2).astype(np.uint8)


def _block_label(y, x):
    return ((x // 8) + 2 * (y // 8)) % 6


@pytest.mark.parametrize("seed", range(8))
def test_image_and_label_stay_aligned_through_the_training_pipeline(tmp_path, seed):
    h, w = 64, 96
    yy, xx = np.mgrid[0:h, 0:w]
    d = _pair(tmp_path, _coordinate_image(h, w), _block_label(yy, xx).astype(np.uint8))
    mapper = SemSegDatasetMapper(
        True,
        [
            RandomRatioResize((96, 64), (0.5, 2.0)),
            RandomCropCategoryRatio((48, 48), 0.75),
            T.RandomFlip(),
            PadToSize((48, 48)),
        ],
        num_classes=6,
    )
    np.random.seed(seed)
    out = mapper(d)
    image = out["image"].permute(1, 2, 0).numpy()
    label = out["sem_seg"].numpy()
    assert image.shape == (48, 48, 3) and label.shape == (48, 48)

    padded = label == 255
    assert np.all(image[padded] == np.float32(PIXEL_MEAN))
    rows, cols = np.nonzero(~padded)  # the content is a top-left rectangle: padding is bottom/right
    assert rows.min() == 0 and cols.min() == 0
    assert len(rows) == (rows.max() + 1) * (cols.max() + 1)

    # Where the source coordinates are clearly inside a block, the label must be that block's.
    src_x, src_y = image[..., 0] / 2, image[..., 1] / 2
    inside = (np.abs((src_x + 0.5) % 8 - 4) < 2.5) & (np.abs((src_y + 0.5) % 8 - 4) < 2.5) & ~padded
    assert inside.sum() > 100
    expected = _block_label(np.floor(src_y).astype(int), np.floor(src_x).astype(int))
    np.testing.assert_array_equal(label[inside], expected[inside])


@pytest.mark.parametrize("seed", range(8))
def test_crop_flip_pad_keep_every_pixel_aligned(tmp_path, seed):
    # Without a resize the correspondence is exact: every pixel's label is a function of the
    # source coordinates written in its colour, so a one-pixel shift fails.
    h, w = 40, 60
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.stack([xx, yy, np.zeros_like(xx)], axis=2).astype(np.uint8)
    label = ((xx + 7 * yy) % 250).astype(np.uint8)
    mapper = SemSegDatasetMapper(
        True,
        [RandomCropCategoryRatio((32, 48), 0.75), T.RandomFlip(), PadToSize((36, 52))],
        num_classes=250,
    )
    np.random.seed(seed)
    out = mapper(_pair(tmp_path, image, label))
    image_out = out["image"].permute(1, 2, 0).numpy()
    label_out = out["sem_seg"].numpy()
    content = label_out != 255
    assert content.sum() == 32 * 48
    src_x, src_y = image_out[..., 0].astype(int), image_out[..., 1].astype(int)
    np.testing.assert_array_equal(label_out[content], ((src_x + 7 * src_y) % 250)[content])


def test_flip_moves_the_pattern_in_image_and_label(tmp_path):
    image = np.zeros((32, 48, 3), np.uint8)
    image[:8, :8] = 255
    label = np.zeros((32, 48), np.uint8)
    label[:8, :8] = 1
    mapper = SemSegDatasetMapper(True, [T.RandomFlip(prob=1.0)], num_classes=2)
    out = mapper(_pair(tmp_path, image, label))
    assert torch.all(out["sem_seg"][:8, -8:] == 1) and out["sem_seg"].sum() == 64
    assert torch.all(out["image"][:, :8, -8:] == 255) and torch.all(out["image"][:, :, :-8] == 0)


def test_crop_takes_the_drawn_window_of_image_and_label(tmp_path):
    image = _coordinate_image(40, 60)
    yy, xx = np.mgrid[0:40, 0:60]
    label = _block_label(yy, xx).astype(np.uint8)
    mapper = SemSegDatasetMapper(True, [RandomCropCategoryRatio((16, 24), 1.0)], num_classes=6)
    np.random.seed(5)
    out = mapper(_pair(tmp_path, image, label))
    np.random.seed(5)
    y0, x0 = np.random.randint(0, 40 - 16 + 1), np.random.randint(0, 60 - 24 + 1)
    np.testing.assert_array_equal(out["sem_seg"].numpy(), label[y0 : y0 + 16, x0 : x0 + 24])
    image_out = out["image"].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(image_out, image[y0 : y0 + 16, x0 : x0 + 24])


def test_resize_scales_the_pattern(tmp_path):
    image = np.zeros((32, 48, 3), np.uint8)
    image[8:16, 16:24] = 200
    label = np.zeros((32, 48), np.uint8)
    label[8:16, 16:24] = 1
    mapper = SemSegDatasetMapper(True, [ResizeKeepRatio((96, 64))], num_classes=2)
    out = mapper(_pair(tmp_path, image, label))
    assert out["sem_seg"].shape == (64, 96)
    ys, xs = torch.nonzero(out["sem_seg"], as_tuple=True)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (16, 31, 32, 47)
    assert out["image"][0, 20, 40] == 200 and out["image"][0, 40, 40] == 0


def test_pad_keeps_the_pattern_and_makes_float32(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    label = np.random.default_rng(1).integers(0, 3, size=(20, 30)).astype(np.uint8)
    mapper = SemSegDatasetMapper(True, [PadToSize((24, 32))], num_classes=3)
    out = mapper(_pair(tmp_path, image, label))
    assert out["image"].dtype == torch.float32 and out["sem_seg"].dtype == torch.int64
    np.testing.assert_array_equal(out["image"][:, :20, :30].permute(1, 2, 0).numpy(), image)
    np.testing.assert_array_equal(out["sem_seg"][:20, :30].numpy(), label)
    assert torch.all(out["sem_seg"][20:] == 255) and torch.all(out["sem_seg"][:, 30:] == 255)


def test_without_padding_the_image_stays_uint8(tmp_path):
    image = np.full((10, 12, 3), 7, np.uint8)
    out = SemSegDatasetMapper(True, [PhotometricDistortion()], num_classes=1)(
        _pair(tmp_path, image, np.zeros((10, 12), np.uint8))
    )
    assert out["image"].dtype == torch.uint8 and out["image"].shape == (3, 10, 12)


def test_test_mode_resizes_the_image_only(tmp_path):
    image = np.zeros((30, 40, 3), np.uint8)
    label = np.ones((30, 40), np.uint8)
    d = _pair(tmp_path, image, label)
    out = SemSegDatasetMapper(False, [ResizeKeepRatio((128, 64))], num_classes=2)(d)
    assert out["image"].shape == (3, 64, 85)
    assert out["sem_seg"].shape == (30, 40) and torch.all(out["sem_seg"] == 1)
    assert (out["height"], out["width"]) == (30, 40)
    assert out["file_name"] == d["file_name"] and out["sem_seg_file_name"] == d["sem_seg_file_name"]
    assert "image" not in d  # the input dict is not modified


def test_test_mode_without_a_label(tmp_path):
    d = {"file_name": _write_rgb(tmp_path / "x.png", np.zeros((6, 8, 3), np.uint8))}
    out = SemSegDatasetMapper(False, [], num_classes=2)(d)
    assert "sem_seg" not in out and (out["height"], out["width"]) == (6, 8)
    with pytest.raises(ValueError, match="x.png.*sem_seg_file_name"):
        SemSegDatasetMapper(True, [], num_classes=2)(d)


def test_palette_png_keeps_its_indices(tmp_path):
    label = np.array([[0, 1, 2], [3, 4, 5]], np.uint8)
    palette_image = Image.fromarray(label, mode="P")
    palette = [200, 10, 10, 10, 200, 10, 10, 10, 200, 250, 250, 250, 0, 0, 0, 90, 60, 30]
    palette_image.putpalette(palette + [0] * (768 - len(palette)))
    label_file = str(tmp_path / "palette.png")
    palette_image.save(label_file)
    assert Image.open(label_file).mode == "P"
    d = {
        "file_name": _write_rgb(tmp_path / "img.png", np.zeros((2, 3, 3), np.uint8)),
        "sem_seg_file_name": label_file,
    }
    out = SemSegDatasetMapper(True, [], num_classes=6)(d)
    np.testing.assert_array_equal(out["sem_seg"].numpy(), label)


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_16_bit_labels_are_not_clipped(tmp_path, ext):
    label = np.array([[0, 300, 458], [65535, 1000, 7]], np.uint16)
    label_file = str(tmp_path / f"label16.{ext}")
    Image.fromarray(label).save(label_file)
    d = {
        "file_name": _write_rgb(tmp_path / "img.png", np.zeros((2, 3, 3), np.uint8)),
        "sem_seg_file_name": label_file,
    }
    augmentations = [PadToSize((3, 4), ignore_label=65535)]
    mapper = SemSegDatasetMapper(True, augmentations, num_classes=1001, ignore_label=65535)
    out = mapper(d)
    np.testing.assert_array_equal(out["sem_seg"][:2, :3].numpy(), label.astype(np.int64))
    assert out["sem_seg"][2, 3] == 65535


def test_reduce_zero_label(tmp_path):
    label = np.array([[0, 1, 2, 7], [7, 0, 1, 1]], np.uint8)
    d = _pair(tmp_path, np.zeros((2, 4, 3), np.uint8), label)
    d["reduce_zero_label"] = True
    out = SemSegDatasetMapper(True, [], num_classes=7)(d)
    np.testing.assert_array_equal(out["sem_seg"].numpy(), [[255, 0, 1, 6], [6, 255, 0, 0]])


def test_reduce_zero_label_with_a_16_bit_ignore_does_not_overflow(tmp_path):
    d = _pair(tmp_path, np.zeros((1, 3, 3), np.uint8), np.array([[0, 1, 2]], np.uint8))
    d["reduce_zero_label"] = True
    out = SemSegDatasetMapper(True, [], num_classes=2, ignore_label=65535)(d)
    np.testing.assert_array_equal(out["sem_seg"].numpy(), [[65535, 0, 1]])


def test_missing_image_names_the_file(tmp_path):
    d = _pair(tmp_path, np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.uint8))
    d["file_name"] = str(tmp_path / "nope.jpg")
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        SemSegDatasetMapper(True, [], num_classes=1)(d)


def test_unreadable_image_names_the_file(tmp_path):
    d = _pair(tmp_path, np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.uint8))
    (tmp_path / "broken.png").write_bytes(b"this is not a png")
    d["file_name"] = str(tmp_path / "broken.png")
    with pytest.raises(OSError, match="broken.png"):
        SemSegDatasetMapper(True, [], num_classes=1)(d)


def test_missing_label_names_the_file(tmp_path):
    d = _pair(tmp_path, np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.uint8))
    d["sem_seg_file_name"] = str(tmp_path / "missing_label.png")
    with pytest.raises(FileNotFoundError, match="missing_label.png"):
        SemSegDatasetMapper(False, [], num_classes=1)(d)


def test_unreadable_label_names_the_file(tmp_path):
    d = _pair(tmp_path, np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.uint8))
    (tmp_path / "broken_label.png").write_bytes(b"\x89PNG garbage")
    d["sem_seg_file_name"] = str(tmp_path / "broken_label.png")
    with pytest.raises(OSError, match="broken_label.png"):
        SemSegDatasetMapper(True, [], num_classes=1)(d)


def test_colour_label_is_refused(tmp_path):
    d = _pair(tmp_path, np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.uint8))
    d["sem_seg_file_name"] = _write_rgb(tmp_path / "rgb_label.png", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match="rgb_label.png.*'RGB'"):
        SemSegDatasetMapper(True, [], num_classes=1)(d)


def test_bad_label_value_names_the_file_and_the_values(tmp_path):
    label = np.array([[0, 1, 9], [255, 12, 1]], np.uint8)
    d = _pair(tmp_path, np.zeros((2, 3, 3), np.uint8), label)
    with pytest.raises(ValueError, match=r"a_label.png.*0\.\.4.*255.*: 9, 12"):
        SemSegDatasetMapper(True, [], num_classes=5)(d)


def test_size_mismatch_names_both_files_and_sizes(tmp_path):
    d = _pair(tmp_path, np.zeros((4, 6, 3), np.uint8), np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError) as info:
        SemSegDatasetMapper(False, [], num_classes=1)(d)
    message = str(info.value)
    for part in ("a.png", "a_label.png", "4x6", "4x5"):
        assert part in message
