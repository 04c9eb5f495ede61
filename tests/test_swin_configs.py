"""The Swin LazyConfig pieces (configs/common/models/swin.py) and the Semantic FPN + tiny Swin toy config."""
import math
import os

import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from fvcore.nn import parameter_count

from ctxseg.modeling.backbone import swin
from ctxseg.modeling.backbone.swin import D2SwinTransformer

from .synthetic import train_on_fixed_batch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWIN_CONFIG = os.path.join(ROOT, "configs", "common", "models", "swin.py")
TOY_CONFIG = os.path.join(ROOT, "configs", "toy", "fpn_swin_toy.py")

# name: (E, depths, heads, window) of the Swin paper's variants; B and L with the window of their 384 22k checkpoints.
VARIANTS = {
    "SWIN_T": (96, [2, 2, 6, 2], [3, 6, 12, 24], 7),
    "SWIN_S": (96, [2, 2, 18, 2], [3, 6, 12, 24], 7),
    "SWIN_B": (128, [2, 2, 18, 2], [4, 8, 16, 32], 12),
    "SWIN_L": (192, [2, 2, 18, 2], [6, 12, 24, 48], 12),
}
SIZES = {"SWIN_T": "tiny", "SWIN_S": "small", "SWIN_B": "base", "SWIN_L": "large"}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_swin_pieces_have_the_published_dimensions(name):
    piece = getattr(LazyConfig.load(SWIN_CONFIG), name)
    assert (piece.embed_dim, list(piece.depths), list(piece.num_heads), piece.window_size) == VARIANTS[name]
    assert piece.drop_path_rate == 0.3 and "strides" not in piece  # the standard layout by default


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_pieces_and_named_constructors_share_one_size_table(name, monkeypatch):
    """Change a size in SWIN_SIZES: the LazyConfig piece and the named constructor both follow."""
    size = SIZES[name]
    monkeypatch.setitem(swin.SWIN_SIZES, size, dict(embed_dim=8, depths=(1, 1, 1, 1), num_heads=(1, 1, 2, 2)))
    piece = getattr(LazyConfig.load(SWIN_CONFIG), name)
    assert (piece.embed_dim, list(piece.depths), list(piece.num_heads)) == (8, [1, 1, 1, 1], [1, 1, 2, 2])
    built = getattr(swin, f"swin_{size}")(window_size=4)
    assert built.output_shape()["res5"].channels == 64 and [len(s.blocks) for s in built.layers] == [1, 1, 1, 1]


@pytest.mark.slow
def test_swin_s_piece_builds_with_the_spec_parameter_count():
    # Swin-B and Swin-L (86.88 M, 195.20 M) are built from these pieces in tests/test_iiwa_configs.py.
    backbone = instantiate(LazyConfig.load(SWIN_CONFIG).SWIN_S)
    assert isinstance(backbone, D2SwinTransformer)
    assert round(parameter_count(backbone)[""] / 1e6, 2) == 48.84
    shapes = backbone.output_shape()
    assert [shapes[f].stride for f in ("res2", "res3", "res4", "res5")] == [4, 8, 16, 32]


@pytest.mark.slow
def test_swin_piece_in_the_dilated_layout():
    piece = LazyConfig.load(SWIN_CONFIG).SWIN_T
    piece.strides = (4, 2, 1, 1)
    piece.drop_path_rate = 0.0
    backbone = instantiate(piece).eval()
    shapes = backbone.output_shape()
    assert [shapes[f].stride for f in ("res2", "res3", "res4", "res5")] == [4, 8, 8, 8]
    with torch.no_grad():
        out = backbone(torch.zeros(1, 3, 64, 96))
    assert [tuple(out[f].shape) for f in ("res2", "res3", "res4", "res5")] == [
        (1, 96, 16, 24), (1, 192, 8, 12), (1, 384, 8, 12), (1, 768, 8, 12)]


def test_toy_config_builds_a_tiny_swin_under_semantic_fpn():
    cfg = LazyConfig.load(TOY_CONFIG)
    model = instantiate(cfg.model)
    bottom_up = model.backbone.bottom_up
    assert isinstance(bottom_up, D2SwinTransformer)
    assert [bottom_up.output_shape()[f].channels for f in ("res2", "res3", "res4", "res5")] == [32, 64, 128, 256]
    assert model.size_divisibility == 32 and model.num_classes == 7
    assert parameter_count(model)[""] < 3_000_000
    cfg.optimizer.params.model = model
    groups = {n: g["weight_decay"] for g in instantiate(cfg.optimizer).param_groups for n in g["param_names"]}
    assert groups["backbone.bottom_up.layers.0.blocks.0.attn.relative_position_bias_table"] == 0.0
    assert groups["backbone.bottom_up.norm0.weight"] == 0.0
    assert groups["backbone.bottom_up.layers.0.blocks.0.attn.qkv.weight"] == pytest.approx(1e-4)


def test_toy_config_loss_decreases_on_a_fixed_batch():
    _, history = train_on_fixed_batch(TOY_CONFIG, steps=6)
    assert all(math.isfinite(x) for x in history)
    assert history[-1] < 0.9 * history[0], history  # from ln(7): the classifier starts at N(0, 0.01)
