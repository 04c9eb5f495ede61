"""Multi-scale + flip test-time augmentation is MMSegmentation 0.x's MultiScaleFlipAug + aug_test.

The stand-in model is closed-form (a fixed 1x1 convolution of the normalised image, stride 1), so the expected
probabilities can be computed here with numpy and cv2 from a restatement of MMSegmentation's procedure:
for each ratio r, resize the ORIGINAL uint8 image keeping its ratio into (int(L r), int(S r)) with cv2
bilinear, flip it for the flipped view, normalise, predict, resize the logits bilinearly to the original size,
softmax, flip back, average over the views.
"""
import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from detectron2.layers import ShapeSpec
from detectron2.modeling import Backbone

import ctxseg  # noqa: F401
from ctxseg.config import instantiate_config, load_config
from ctxseg.data import ResizeKeepRatio, SemSegDatasetMapper
from ctxseg.modeling.meta_arch import EncoderDecoderSegmentor

from .conftest import TINY_TOY_CONFIG

MEAN = np.array([123.675, 116.28, 103.53])
STD = np.array([58.395, 57.12, 57.375])
WEIGHT = np.array([[0.9, -0.4, 0.2], [-0.3, 0.8, 0.1], [0.2, 0.1, -0.7]])  # (K, 3)
BIAS = np.array([0.1, -0.2, 0.05])
ADE_SCALE = (2048, 512)
RATIOS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)


class Identity(Backbone):
    """The normalised image itself as the one feature map (stride 1); records the sizes it sees."""

    def __init__(self):
        super().__init__()
        self.sizes = []

    def forward(self, x):
        self.sizes.append(tuple(x.shape[-2:]))
        return {"image": x}

    def output_shape(self):
        return {"image": ShapeSpec(channels=3, stride=1)}


class PixelLinear(nn.Module):
    """logits = WEIGHT @ pixel + BIAS at every pixel."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.conv.weight.data = torch.tensor(WEIGHT, dtype=torch.float32)[:, :, None, None]
        self.conv.bias.data = torch.tensor(BIAS, dtype=torch.float32)

    def forward(self, features):
        return self.conv(features["image"])


def stand_in(ratios, flip):
    return EncoderDecoderSegmentor(backbone=Identity(), head=PixelLinear(), num_classes=3, size_divisibility=0,
                                   tta_scales=ratios, tta_flip=flip).eval()


def mmseg_view_size(h, w, scale, ratio):
    """mmcv.imrescale's size for MultiScaleFlipAug's scale (int(L r), int(S r))."""
    long_edge, short_edge = int(max(scale) * ratio), int(min(scale) * ratio)
    factor = min(long_edge / max(h, w), short_edge / min(h, w))
    return int(h * factor + 0.5), int(w * factor + 0.5)


def mmseg_tta_probabilities(image, scale, ratios, flip):
    """Average of the views' softmax probabilities at the original size, restated with numpy and cv2."""
    h, w = image.shape[:2]
    total = 0
    views = [(r, f) for r in ratios for f in ((False, True) if flip else (False,))]
    for ratio, flipped in views:
        vh, vw = mmseg_view_size(h, w, scale, ratio)
        view = cv2.resize(image, (vw, vh), interpolation=cv2.INTER_LINEAR)
        if flipped:
            view = view[:, ::-1]
        logits = ((view - MEAN) / STD) @ WEIGHT.T + BIAS  # (vh, vw, K)
        logits = torch.tensor(logits, dtype=torch.float32).permute(2, 0, 1)[None]
        probs = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)[0].softmax(0)
        total = total + (probs.flip(-1) if flipped else probs)
    return total / len(views)


def random_image(h, w, seed=0):
    rng = np.random.default_rng(seed)
    smooth = cv2.resize(rng.integers(0, 256, (h // 8, w // 8, 3)).astype(np.uint8), (w, h))
    return np.clip(smooth.astype(np.int64) + rng.integers(-20, 21, (h, w, 3)), 0, 255).astype(np.uint8)


def test_view_sizes_follow_mmsegmentation():
    # The example of the bug: 768x1024 at the ADE20K scale, r=0.5 -> 256x341 (rescaling the resized image: 342).
    image = random_image(768, 1024)
    mapper = SemSegDatasetMapper(False, [ResizeKeepRatio(ADE_SCALE)], num_classes=3, tta_scales=RATIOS)
    sample = mapper.map_image(image)
    sizes = [tuple(v["image"].shape[-2:]) for v in sample["tta_views"]]
    assert sizes[0] == (256, 341)
    assert sizes == [mmseg_view_size(768, 1024, ADE_SCALE, r) for r in RATIOS]
    assert sample["tta_views"][2]["image"] is sample["image"]  # ratio 1 is the single-scale image
    for view, ratio in zip(sample["tta_views"], RATIOS):  # each view is a resize of the original
        vh, vw = view["image"].shape[-2:]
        expected = cv2.resize(image, (vw, vh), interpolation=cv2.INTER_LINEAR)
        assert view["ratio"] == ratio and np.array_equal(view["image"].permute(1, 2, 0).numpy(), expected)


@pytest.mark.parametrize("ratios, flip", [(RATIOS, True), ((0.5, 1.25), False), ((1.0,), True)])
def test_averaged_probabilities_equal_the_restatement(ratios, flip):
    image = random_image(150, 202, seed=1)
    scale = (256, 64)  # a small test scale keeps the views small
    mapper = SemSegDatasetMapper(False, [ResizeKeepRatio(scale)], num_classes=3, tta_scales=ratios)
    model = stand_in(ratios, flip)
    with torch.no_grad():
        probs = model([mapper.map_image(image)])[0]["sem_seg"]
    seen = model.backbone.sizes
    expected_sizes = [mmseg_view_size(150, 202, scale, r) for r in ratios for _ in range(2 if flip else 1)]
    assert seen == expected_sizes
    expected = mmseg_tta_probabilities(image, scale, ratios, flip)
    assert probs.shape == (3, 150, 202)
    torch.testing.assert_close(probs, expected, rtol=0, atol=2e-5)
    assert (probs.argmax(0) != expected.argmax(0)).float().mean() < 1e-4


def test_single_scale_is_unchanged():
    # Without TTA the mapper makes no views and the result is the one view's probabilities.
    image = random_image(96, 120, seed=2)
    mapper = SemSegDatasetMapper(False, [ResizeKeepRatio((256, 64))], num_classes=3)
    sample = mapper.map_image(image)
    assert "tta_views" not in sample
    with torch.no_grad():
        probs = stand_in(None, False)([sample])[0]["sem_seg"]
    torch.testing.assert_close(probs, mmseg_tta_probabilities(image, (256, 64), (1.0,), False), rtol=0, atol=2e-5)


def test_model_and_mapper_ratios_must_agree():
    image = random_image(64, 80)
    plain = SemSegDatasetMapper(False, [ResizeKeepRatio((256, 64))], num_classes=3).map_image(image)
    other = SemSegDatasetMapper(False, [ResizeKeepRatio((256, 64))], num_classes=3,
                                tta_scales=(0.5, 1.0)).map_image(image)
    with pytest.raises(ValueError, match="no 'tta_views'"):
        stand_in((0.5, 1.0), False)([plain])
    with pytest.raises(ValueError, match=r"scales \[0.5, 1.0\].*expects \[0.75, 1.0\]"):
        stand_in((0.75, 1.0), False)([other])
    with pytest.raises(ValueError, match="needs a ResizeKeepRatio"):
        SemSegDatasetMapper(False, [], num_classes=3, tta_scales=(0.5, 1.0))


def test_config_links_the_mapper_to_the_model():
    cfg = load_config(TINY_TOY_CONFIG, ["model.tta_scales=[0.5,1.5]", "model.tta_flip=true"])
    mapper = instantiate_config(cfg.dataloader.test.mapper, "dataloader.test.mapper")
    assert mapper.tta_scales == (0.5, 1.5)
    model = instantiate_config(cfg.model, "model")
    assert model.tta_scales == (0.5, 1.5) and model.tta_flip
    plain = instantiate_config(load_config(TINY_TOY_CONFIG).dataloader.test.mapper, "mapper")
    assert plain.tta_scales is None
