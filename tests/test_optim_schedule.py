"""Optimizer parameter groups by MMCV's name rule; warm-up + poly schedule."""
import pytest
import torch.nn as nn

from ctxseg.engine import WarmupPolyScheduler, param_groups_by_name


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Module()
        self.backbone.norm0 = nn.LayerNorm(4)
        self.backbone.blk = nn.Linear(4, 4)
        self.backbone.relative_position_bias_table = nn.Parameter(nn.init.zeros_(nn.Linear(1, 1).weight))
        self.head = nn.Module()
        self.head.query_norm = nn.LayerNorm(4)
        self.head.proj = nn.Sequential(nn.LayerNorm(4), nn.Linear(4, 4))


KEYS = {"norm": {"decay_mult": 0.0}, "backbone": {"lr_mult": 0.2},
        "relative_position_bias_table": {"decay_mult": 0.0}, "absolute_pos_embed": {"decay_mult": 0.0}}


def settings(groups):
    return {name: (g["lr"], g["weight_decay"]) for g in groups for name in g["param_names"]}


def test_first_longest_key_decides():
    s = settings(param_groups_by_name(Net(), base_lr=1.0, weight_decay=0.01, custom_keys=KEYS))
    # backbone norms: "backbone" (8 chars) beats "norm" (4): lr x0.2 AND keep weight decay (as MMCV)
    assert s["backbone.norm0.weight"] == (0.2, 0.01)
    assert s["backbone.blk.weight"] == (0.2, 0.01)
    # the bias table key is the longest: lr x1, no decay
    assert s["backbone.relative_position_bias_table"] == (1.0, 0.0)
    assert s["head.query_norm.weight"] == (1.0, 0.0)
    # LayerNorm inside a Sequential named proj: no "norm" in its name -> decayed
    assert s["head.proj.0.weight"] == (1.0, 0.01)


def test_without_backbone_key_and_frozen_params():
    net = Net()
    net.head.proj[1].weight.requires_grad_(False)
    keys = {k: v for k, v in KEYS.items() if k != "backbone"}
    s = settings(param_groups_by_name(net, base_lr=2.0, weight_decay=0.1, custom_keys=keys))
    assert s["backbone.norm0.weight"] == (2.0, 0.0)
    assert s["backbone.blk.weight"] == (2.0, 0.1)
    assert "head.proj.1.weight" not in s
    with pytest.raises(KeyError, match="unknown entries"):
        param_groups_by_name(net, 1.0, 0.0, {"norm": {"decay": 0}})


def test_warmup_poly_matches_mmcv_formula():
    s = WarmupPolyScheduler(max_iter=100, power=0.9, warmup_iters=10, warmup_ratio=1e-6)
    for i in (0, 5, 9, 10, 50, 99):
        poly = (1 - i / 100) ** 0.9
        warm = (1e-6 + (1 - 1e-6) * i / 10) if i < 10 else 1.0
        assert s(i / 100) == pytest.approx(poly * warm)
    assert s(1.0) == 0.0
    assert WarmupPolyScheduler(max_iter=10, power=1.0, min_value=0.1)(1.0) == pytest.approx(0.1)
