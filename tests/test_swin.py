"""Swin backbone: equality with timm under the same weights, sizes, dilated layout, freezing, checkpointing."""
import pytest
import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from detectron2.config import LazyCall as L
from detectron2.config import instantiate
from detectron2.modeling import BACKBONE_REGISTRY
from timm.models import swin_transformer as timm_swin

import ctxseg  # noqa: F401  (patches Detectron2 before it is used)
from ctxseg.checkpoint.swin import convert_swin
from ctxseg.modeling.backbone.swin import D2SwinTransformer, PatchMerging, swin_base, swin_large, swin_small, swin_tiny

from .swin_checkpoints import timm_to_official

TINY = dict(embed_dim=12, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), window_size=7)
CONSTRUCTORS = {"tiny": swin_tiny, "small": swin_small}


def _attn_pad_then_roll(self, x):
    """timm's block attention in MMSegmentation's order: pad to window multiples first, then roll."""
    _, h, w, c = x.shape
    wh, ww = self.window_size
    x = F.pad(x, (0, 0, 0, (-w) % ww, 0, (-h) % wh))
    hp, wp = x.shape[1:3]
    shifted = any(self.shift_size)
    if shifted:
        x = torch.roll(x, shifts=(-self.shift_size[0], -self.shift_size[1]), dims=(1, 2))
    mask = self.get_attn_mask(x) if shifted else None
    windows = timm_swin.window_partition(x, self.window_size).view(-1, self.window_area, c)
    windows = self.attn(windows, mask=mask).view(-1, wh, ww, c)
    x = timm_swin.window_reverse(windows, self.window_size, hp, wp)
    if shifted:
        x = torch.roll(x, shifts=self.shift_size, dims=(1, 2))
    return x[:, :h, :w, :]


@pytest.fixture(scope="module", params=["tiny", "small"])
def timm_and_ctxseg(request):
    """A random timm Swin and the ctxseg backbone loaded from it through the official-format converter."""
    torch.manual_seed(0)
    # any input size; a fixed window that always shifts (the segmentation behaviour ctxseg implements)
    reference = timm.create_model(f"swin_{request.param}_patch4_window7_224", pretrained=False,
                                  strict_img_size=False, always_partition=True).eval()
    result = convert_swin(timm_to_official(reference.state_dict()), "official", prefix="")
    assert result.missing_keys == [f"norm{i}.{p}" for i in range(4) for p in ("bias", "weight")]
    model = CONSTRUCTORS[request.param]().eval()
    missing, unexpected = model.load_state_dict(result.state_dict, strict=False)
    assert sorted(missing) == result.missing_keys and not unexpected
    return reference, model


def _max_differences(reference, model, height, width):
    """Largest absolute difference per stage between timm (+ LayerNorm 1/0) and ctxseg."""
    x = torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference.forward_intermediates(x, intermediates_only=True)
        actual = model(x)
    diffs = []
    for i, feature in enumerate(expected):
        normed = F.layer_norm(feature.permute(0, 2, 3, 1), feature.shape[1:2]).permute(0, 3, 1, 2)
        assert actual[f"res{i + 2}"].shape == normed.shape
        diffs.append((actual[f"res{i + 2}"] - normed).abs().max().item())
    return diffs


@pytest.mark.slow
def test_matches_timm_when_stages_are_window_multiples(timm_and_ctxseg):
    # 224x224: stages 56, 28, 14, 7, all window multiples, so nothing is padded and timm's order
    # (roll, then pad) cannot differ from ctxseg's
    diffs = _max_differences(*timm_and_ctxseg, 224, 224)
    assert max(diffs) < 1e-4, diffs


@pytest.mark.slow
@pytest.mark.parametrize("height,width", [(256, 320), (264, 328)])
def test_matches_timm_with_padding_before_shift(monkeypatch, timm_and_ctxseg, height, width):
    # timm rolls then pads; MMSegmentation and Mask2Former (and ctxseg) pad then roll, which differs
    # when a stage is not a window multiple (all of them here). timm with only that order changed must match.
    monkeypatch.setattr(timm_swin.SwinTransformerBlock, "_attn", _attn_pad_then_roll)
    diffs = _max_differences(*timm_and_ctxseg, height, width)
    assert max(diffs) < 1e-4, diffs


@pytest.mark.parametrize("build,window,millions", [(swin_small, 7, 48.84), (swin_base, 12, 86.88),
                                                   (swin_large, 12, 195.20)])
def test_parameter_counts(build, window, millions):
    with torch.device("meta"):
        model = build(window_size=window)
    count = sum(p.numel() for p in model.parameters())
    assert abs(count / 1e6 - millions) < 0.01, count


def test_standard_layout_shapes_and_strides():
    model = D2SwinTransformer(**TINY).eval()
    assert model.size_divisibility == 32
    shapes = model.output_shape()
    assert {k: (s.channels, s.stride) for k, s in shapes.items()} == {
        "res2": (12, 4), "res3": (24, 8), "res4": (48, 16), "res5": (96, 32)}
    with torch.no_grad():
        out = model(torch.randn(2, 3, 97, 131))
    # ceil division at every step: 97x131 -> 25x33 -> 13x17 -> 7x9 -> 4x5
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "res2": (2, 12, 25, 33), "res3": (2, 24, 13, 17), "res4": (2, 48, 7, 9), "res5": (2, 96, 4, 5)}


def test_dilated_layout_keeps_resolution():
    model = D2SwinTransformer(**TINY, strides=(4, 2, 1, 1)).eval()
    assert model.size_divisibility == 0
    assert {k: (s.channels, s.stride) for k, s in model.output_shape().items()} == {
        "res2": (12, 4), "res3": (24, 8), "res4": (48, 8), "res5": (96, 8)}
    with torch.no_grad():
        out = model(torch.randn(1, 3, 97, 131))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "res2": (1, 12, 25, 33), "res3": (1, 24, 13, 17), "res4": (1, 48, 13, 17), "res5": (1, 96, 13, 17)}
    assert all(torch.isfinite(v).all() for v in out.values())


def _unfold_order_weights(merge):
    """The merge's weights in MMSegmentation's channel-major unfold order (as its converter writes them)."""
    def reorder(t):
        *lead, four_c = t.shape
        return t.reshape(*lead, 4, four_c // 4)[..., [0, 2, 1, 3], :].transpose(-1, -2).reshape(*lead, four_c)
    return reorder(merge.norm.weight), reorder(merge.norm.bias), reorder(merge.reduction.weight)


@pytest.mark.parametrize("stride", [1, 2])
def test_patch_merging_equals_mmseg_unfold(stride):
    torch.manual_seed(0)
    merge = PatchMerging(6, stride=stride).eval()
    for p in merge.parameters():
        nn.init.normal_(p)
    x = torch.randn(2, 9, 11, 6)
    h_out, w_out = -(-9 // stride), -(-11 // stride)
    # MMSegmentation 0.20: corner padding to (out - 1) * stride + 2, Unfold(2, stride), LayerNorm, Linear
    pad_h, pad_w = (h_out - 1) * stride + 2 - 9, (w_out - 1) * stride + 2 - 11
    padded = F.pad(x.permute(0, 3, 1, 2), (0, pad_w, 0, pad_h))
    cols = F.unfold(padded, kernel_size=2, stride=stride).transpose(1, 2)
    norm_w, norm_b, red_w = _unfold_order_weights(merge)
    expected = F.linear(F.layer_norm(cols, (24,), norm_w, norm_b), red_w).view(2, h_out, w_out, 12)
    with torch.no_grad():
        actual = merge(x)
    assert actual.shape == (2, h_out, w_out, 12)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


def test_out_features_subset_stops_early():
    model = D2SwinTransformer(**TINY, out_features=("res3",)).eval()
    assert len(model.layers) == 2 and model.layers[1].downsample is None
    assert not hasattr(model, "norm0") and hasattr(model, "norm1")
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    assert list(out) == ["res3"] and out["res3"].shape == (1, 24, 8, 8)
    with pytest.raises(ValueError, match="out_features"):
        D2SwinTransformer(**TINY, out_features=("res6",))
    with pytest.raises(ValueError, match="strides"):
        D2SwinTransformer(**TINY, strides=(4, 2, 3, 2))


def test_frozen_stages():
    model = D2SwinTransformer(**TINY, frozen_stages=2, drop_path_rate=0.2)
    frozen = {n.split(".")[0] + ("." + n.split(".")[1] if n.startswith("layers") else "")
              for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {"patch_embed", "layers.0", "layers.1", "norm0", "norm1"}
    assert all(p.requires_grad for n, p in model.named_parameters() if n.startswith(("layers.2", "layers.3", "norm2")))
    model.train()
    assert not model.layers[1].training and model.layers[2].training  # no stochastic depth in frozen stages
    only_embed = D2SwinTransformer(**TINY, frozen_stages=0)
    assert {n for n, p in only_embed.named_parameters() if not p.requires_grad} == {
        n for n, _ in only_embed.named_parameters() if n.startswith("patch_embed")}


@pytest.mark.slow
def test_activation_checkpointing_same_output_and_gradients():
    torch.manual_seed(0)
    plain = D2SwinTransformer(**TINY).train()
    checkpointed = D2SwinTransformer(**TINY, use_checkpoint=True).train()
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 61, 75)
    losses = []
    for model in (plain, checkpointed):
        out = model(x)
        loss = sum((v * torch.arange(v.numel()).view_as(v).sin()).sum() for v in out.values())
        loss.backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[0], losses[1])
    for (name, a), (_, b) in zip(plain.named_parameters(), checkpointed.named_parameters()):
        assert a.grad is not None, name
        torch.testing.assert_close(a.grad, b.grad, msg=name)


def test_registered_and_lazy_instantiable():
    assert BACKBONE_REGISTRY.get("D2SwinTransformer") is D2SwinTransformer
    model = instantiate(L(D2SwinTransformer)(**TINY, strides=(4, 2, 1, 1)))
    assert isinstance(model, D2SwinTransformer) and model.output_shape()["res5"].stride == 8
