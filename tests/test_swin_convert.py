"""Swin checkpoint converters (official, timm, mmseg) and the tools/convert_weights.py command line."""
import importlib
import os
import re
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from detectron2.modeling import FPN

import ctxseg  # noqa: F401  (patches Detectron2 before it is used)
from ctxseg.checkpoint import converter_names
from ctxseg.checkpoint.swin import convert_swin, detect_swin_format, resize_relative_position_table
from ctxseg.modeling.backbone.swin import D2SwinTransformer

from .swin_checkpoints import TINY_ARCH, official_to_mmseg, timm_to_official, tiny_timm_swin

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT_NORMS = [f"norm{i}.{p}" for i in range(4) for p in ("bias", "weight")]


@pytest.fixture(scope="module")
def timm_state():
    return tiny_timm_swin().state_dict()


@pytest.fixture(scope="module")
def official(timm_state):
    return timm_to_official(timm_state)


def _random_output_norms():
    dims = [TINY_ARCH["embed_dim"] * 2 ** i for i in range(4)]
    return {f"norm{i}.{p}": torch.randn(d) for i, d in enumerate(dims) for p in ("weight", "bias")}


def test_registered():
    assert {"swin-official", "swin-timm", "swin-mmseg"} <= set(converter_names())


def test_official_layout_report(official):
    result = convert_swin(official, "official")
    prefix = "backbone.bottom_up."
    assert all(k.startswith(prefix) for k in result.state_dict)
    assert result.missing_keys == [prefix + k for k in OUTPUT_NORMS]
    assert result.unused_keys == sorted(["head.weight", "head.bias", "norm.weight", "norm.bias",
                                         "layers.0.blocks.0.attn.relative_position_index",
                                         "layers.0.blocks.1.attn_mask"])
    assert "embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), window_size=7" in result.report()
    # everything the model has besides the new output norms, with the right shapes
    model = D2SwinTransformer(**TINY_ARCH)
    stripped = {k[len(prefix):]: v for k, v in result.state_dict.items()}
    missing, unexpected = model.load_state_dict(stripped, strict=False)
    assert sorted(missing) == OUTPUT_NORMS and not unexpected
    # the merge that ends stage i is the official layers.{i}.downsample (timm's layers.{i+1}.downsample)
    torch.testing.assert_close(stripped["layers.0.downsample.reduction.weight"],
                               official["model"]["layers.0.downsample.reduction.weight"], rtol=0, atol=0)


def _assert_same_tensors(a, b):
    assert sorted(a) == sorted(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_timm_equals_official(timm_state, official):
    from_timm = convert_swin(timm_state, "timm", prefix="backbone.")
    from_official = convert_swin(official, "official", prefix="backbone.")
    _assert_same_tensors(from_timm.state_dict, from_official.state_dict)
    assert "head.fc.weight" in from_timm.unused_keys
    # timm's merge weights really moved one stage down
    assert torch.equal(from_timm.state_dict["backbone.layers.2.downsample.norm.weight"],
                       timm_state["layers.3.downsample.norm.weight"])


def test_mmseg_equals_official_exactly(official):
    norms = _random_output_norms()
    mmseg = official_to_mmseg(official["model"], output_norms=norms)
    assert detect_swin_format(mmseg["state_dict"]) == "mmseg"
    from_mmseg = convert_swin(mmseg, "mmseg", prefix="")
    from_official = convert_swin(official, "official", prefix="")
    expected = dict(from_official.state_dict, **norms)
    _assert_same_tensors(from_mmseg.state_dict, expected)
    assert from_mmseg.missing_keys == []
    assert from_mmseg.unused_keys == ["decode_head.conv_seg.weight"]
    # an mmseg ImageNet-pretrain file (no "backbone." prefix, no output norms) too
    pretrain = official_to_mmseg(official["model"], segmentor=False)
    _assert_same_tensors(convert_swin(pretrain, "mmseg", prefix="").state_dict, from_official.state_dict)


def test_refuses_non_swin_and_wrong_format(timm_state, official):
    resnet = {"model": {"stem.conv1.weight": torch.zeros(64, 3, 7, 7),
                        "res2.0.conv1.weight": torch.zeros(64, 64, 1, 1)}}
    with pytest.raises(ValueError, match=r"not a Swin Transformer checkpoint.*stem\.conv1\.weight"):
        convert_swin(resnet, "official")
    with pytest.raises(ValueError, match="a Swin checkpoint must be a dict"):
        convert_swin([1, 2], "timm")
    with pytest.raises(ValueError, match="timm format, not official: convert it with --source swin-timm"):
        convert_swin(timm_state, "official")
    with pytest.raises(ValueError, match="official format, not mmseg"):
        convert_swin(official, "mmseg")
    with pytest.raises(TypeError, match="not \\['stride'\\]"):
        convert_swin(official, "official", stride=2)


def test_window_resize(official):
    result = convert_swin(official, "official", prefix="", window_size=12)
    for i, heads in enumerate(TINY_ARCH["num_heads"]):
        assert result.state_dict[f"layers.{i}.blocks.1.attn.relative_position_bias_table"].shape == (23 * 23, heads)
    assert any("from window 7 to 12" in n for n in result.notes)
    model = D2SwinTransformer(**dict(TINY_ARCH, window_size=12))
    missing, unexpected = model.load_state_dict(result.state_dict, strict=False)
    assert sorted(missing) == OUTPUT_NORMS and not unexpected
    # the same window: untouched
    same = convert_swin(official, "official", prefix="", window_size=7)
    key = "layers.3.blocks.0.attn.relative_position_bias_table"
    assert torch.equal(same.state_dict[key], official["model"][key])


def test_window_resize_keeps_grid_orientation_and_heads():
    # a table varying only with the row offset (dy), and per head: the resized one must too
    rows = torch.linspace(-1, 1, 13).view(13, 1).expand(13, 13)
    table = torch.stack([rows.reshape(-1) + 10 * h for h in range(3)], dim=1)
    resized = resize_relative_position_table(table, 12)
    grid = resized.t().reshape(3, 23, 23)
    assert torch.allclose(grid, grid[:, :, :1].expand_as(grid), atol=1e-5)  # constant along dx
    assert (grid[:, -1, 0] > grid[:, 0, 0]).all()  # still increasing along dy
    assert torch.allclose(grid[2] - grid[0], torch.full((23, 23), 20.0), atol=1e-4)  # heads kept apart


def _load_tool():
    return importlib.import_module("ctxseg_cli.convert_weights")


@pytest.mark.slow
def test_command_line(tmp_path, official):
    mmseg = official_to_mmseg(official["model"], output_norms=_random_output_norms())
    source = tmp_path / "mmseg_swin.pth"
    torch.save(mmseg, source)
    target = tmp_path / "out" / "swin.pth"
    run = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "convert_weights.py"), "--source", "swin-mmseg",
                          str(source), "--output", str(target)], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert "unused keys from the source (1):" in run.stdout and "decode_head.conv_seg.weight" in run.stdout
    assert "missing keys in the result (0):" in run.stdout

    converted = torch.load(target, map_location="cpu", weights_only=True)["model"]
    # the default prefix is where Detectron2's FPN keeps its bottom-up backbone in a Semantic FPN model
    model = nn.Module()
    model.backbone = FPN(bottom_up=D2SwinTransformer(**TINY_ARCH), in_features=["res2", "res3", "res4", "res5"],
                         out_channels=8)
    assert set(converted) <= set(model.state_dict())
    prefix = "backbone.bottom_up."
    model.backbone.bottom_up.load_state_dict({k[len(prefix):]: v for k, v in converted.items()}, strict=True)


def test_command_line_options_and_errors(tmp_path, official, capsys):
    tool = _load_tool()
    source = tmp_path / "official.pth"
    torch.save(official, source)
    target = tmp_path / "swin_iiwa.pth"
    assert tool.main(["--source", "swin-official", str(source), str(target), "--prefix", "backbone.",
                      "--window-size", "12"]) == 0
    assert "resized relative position tables" in capsys.readouterr().out
    converted = torch.load(target, map_location="cpu", weights_only=True)["model"]
    assert converted["backbone.layers.0.blocks.0.attn.relative_position_bias_table"].shape == (23 * 23, 1)

    bad = tmp_path / "resnet.pth"
    torch.save({"model": {"stem.conv1.weight": torch.zeros(1)}}, bad)
    assert tool.main(["--source", "swin-official", str(bad), "--output", str(tmp_path / "out.pth")]) == 2
    assert re.search("resnet.pth.*not a Swin Transformer checkpoint", capsys.readouterr().err)
    assert not (tmp_path / "out.pth").exists()
    assert tool.main(["--source", "swin-official", str(tmp_path / "absent.pth"), "--output",
                      str(tmp_path / "out.pth")]) == 2
    assert "absent.pth" in capsys.readouterr().err
    assert tool.main(["--source", "no-such-format", str(source), "--output", str(tmp_path / "out.pth")]) == 2
    assert "unknown format; choose one of coc-imagenet" in capsys.readouterr().err
