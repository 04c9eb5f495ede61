"""EncoderDecoderSegmentor: whole vs sliding-window inference, batching, TTA flip-back, training."""
import pytest
import torch
import torch.nn as nn
from detectron2.layers import ShapeSpec
from detectron2.modeling import Backbone

import ctxseg  # noqa: F401
from ctxseg.modeling.heads import SemanticFPNHead
from ctxseg.modeling.meta_arch import EncoderDecoderSegmentor, sliding_windows


class TinyBackbone(Backbone):
    """Two stride-2 convs per level: a 4-level pyramid p2..p5 with 8 channels."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 2, 1))
        self.downs = nn.ModuleList(nn.Conv2d(8, 8, 3, 2, 1) for _ in range(3))

    def forward(self, x):
        x = self.stem(x)
        out = {"p2": x}
        for i, down in enumerate(self.downs):
            x = down(x)
            out[f"p{i + 3}"] = x
        return out

    def output_shape(self):
        return {f"p{i}": ShapeSpec(channels=8, stride=2 ** i) for i in range(2, 6)}

    @property
    def size_divisibility(self):
        return 32


def make_model(**kwargs):
    torch.manual_seed(0)
    backbone = TinyBackbone()
    head = SemanticFPNHead(backbone.output_shape(), num_classes=3, conv_dims=8, norm="BN", dropout=0.1)
    model = EncoderDecoderSegmentor(backbone=backbone, head=head, num_classes=3, **kwargs)
    return model.eval()


def sample(h=64, w=80, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"image": torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8), "height": h, "width": w}


def test_sliding_window_grid_follows_spec():
    # H=100, crop 64, stride 48: n = (100-64+47)//48+1 = 2 rows: [0,64) and [36,100)
    assert sliding_windows(100, 64, (64, 64), (48, 48)) == [(0, 64, 0, 64), (36, 100, 0, 64)]
    # image smaller than the crop: a single window over the whole image
    assert sliding_windows(30, 40, (64, 64), (48, 48)) == [(0, 30, 0, 40)]


def test_slide_equals_whole_when_the_crop_covers_the_image():
    whole = make_model()
    slide = make_model(test_mode="slide", crop_size=(64, 96), stride=(32, 32))
    x = sample(64, 80)
    with torch.no_grad():
        a, b = whole([x])[0]["sem_seg"], slide([x])[0]["sem_seg"]
    assert a.shape == (3, 64, 80)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


@pytest.mark.slow
def test_batched_windows_equal_one_window_at_a_time():
    one = make_model(test_mode="slide", crop_size=(32, 32), stride=(20, 24), slide_batch_size=1)
    many = make_model(test_mode="slide", crop_size=(32, 32), stride=(20, 24), slide_batch_size=5)
    x = sample(70, 90, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(one([x])[0]["sem_seg"], many([x])[0]["sem_seg"], rtol=1e-5, atol=1e-6)


def test_results_at_original_size_and_probabilities():
    model = make_model()
    x = sample(48, 64)
    x["height"], x["width"] = 96, 120  # the mapper resized a 96x120 original to 48x64
    with torch.no_grad():
        p = model([x])[0]["sem_seg"]
    assert p.shape == (3, 96, 120)
    torch.testing.assert_close(p.sum(0), torch.ones(96, 120))


def test_tta_flip_is_flipped_back():
    flip_model = make_model(tta_flip=True)
    plain = make_model()
    x = sample(64, 96, seed=2)
    mirrored = dict(x, image=x["image"].flip(-1))
    with torch.no_grad():
        p = plain([x])[0]["sem_seg"]
        p_mirror = plain([mirrored])[0]["sem_seg"]
        tta = flip_model([x])[0]["sem_seg"]
        tta_mirror = flip_model([mirrored])[0]["sem_seg"]
    # averaging a view with its flipped-back mirror: the mirrored input gives the mirrored result
    torch.testing.assert_close(tta, (p + p_mirror.flip(-1)) / 2, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(tta_mirror, tta.flip(-1), rtol=1e-5, atol=1e-6)


def test_multi_scale_tta_averages_the_mapped_views():
    model = make_model(tta_scales=(0.5, 1.0))
    x = sample(64, 96, seed=3)
    half = sample(32, 48, seed=4)["image"]
    x["tta_views"] = [{"ratio": 0.5, "image": half}, {"ratio": 1.0, "image": x["image"]}]
    with torch.no_grad():
        p = model([x])[0]["sem_seg"]
        single = make_model()
        p_half = single([dict(x, image=half, tta_views=None)])[0]["sem_seg"]
        p_full = single([dict(x, tta_views=None)])[0]["sem_seg"]
    assert p.shape == (3, 64, 96)
    torch.testing.assert_close(p, (p_half + p_full) / 2, rtol=1e-5, atol=1e-6)


def test_predict_in_bands_equals_predict_at_once():
    model = make_model(tta_flip=True)
    x = sample(40, 56, seed=5)
    x["height"], x["width"] = 301, 419  # a large original: labels band by band below
    with torch.no_grad():
        labels, probs = model.predict(x, with_probabilities=True)
        banded, none = model.predict(x, max_elements=3 * 419 * 7)
    assert none is None and labels.dtype == torch.uint8 and labels.shape == (301, 419)
    torch.testing.assert_close(probs, model([x])[0]["sem_seg"])
    assert (banded == labels).float().mean() > 0.9999


def test_training_returns_a_loss_that_learns():
    model = make_model().train()
    batch = [dict(sample(64, 64, seed=i), sem_seg=torch.randint(0, 3, (64, 64))) for i in range(2)]
    batch[0]["sem_seg"][:8] = 255
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for _ in range(8):
        loss = sum(model(batch).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_bad_arguments_are_reported():
    with pytest.raises(ValueError, match="test_mode"):
        make_model(test_mode="tiles")
    with pytest.raises(ValueError, match="crop_size and stride"):
        make_model(test_mode="slide")
    with pytest.raises(KeyError, match="sem_seg"):
        make_model().train()([sample()])
