"""The IIWA project configs (the released recipes, groups and schedules): full-size models and their optimiser groups,
the recipe of every row, one training step each at a reduced size, and the toy IIWA config training."""
import math
import os

import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from fvcore.nn import parameter_count

from ctxseg.modeling.backbone import IIWAFusionNeck
from ctxseg.modeling.backbone.swin import D2SwinTransformer
from ctxseg.modeling.heads import IIWADecoderHead

from .synthetic import synthetic_batch, train_on_fixed_batch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IIWA_DIR = os.path.join(ROOT, "projects", "IIWA", "configs")
TOY_CONFIG = os.path.join(ROOT, "configs", "toy", "iiwa_swin_toy.py")
TTA = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
CITYSCAPES_WEIGHTS = [0.8373, 0.918, 0.866, 1.0345, 1.0166, 0.9969, 0.9754, 1.0489, 0.8786, 1.0023, 0.9539,
                      0.9843, 1.1116, 0.9037, 1.0865, 1.0955, 1.0865, 1.1529, 1.0507]
# Millions: timm's Swin without its classifier and final norm, plus the 4 output norms.
SWIN_PARAMS = {96: 48.84, 128: 86.88, 192: 195.20}

# The released configs, one row each: E, decoder (embed, query, depths, window, drop), classes, test (mode, crop,
# stride), multi-scale test, global batch, backbone lr_mult, warm-up (iters, ratio), poly power, iterations,
# checkpoint = eval period, train datasets, init checkpoint.
FINE, COARSE = "cityscapes_fine_sem_seg_train", "cityscapes_coarse_sem_seg_train_extra"
ROWS = {
    "ade20k/iiwa_swin_s_512x512_160k": (96, (384, 256, [1, 1, 1, 1], [8, 8], 0.0), 150,
                                        ("slide", [512, 512], [384, 384]), False, 16, None, (1500, 1e-7), 0.95,
                                        160000, 16000, ["ade20k_sem_seg_train"], ""),
    "ade20k/iiwa_swin_b_512x512_160k": (128, (256, 256, [1, 1, 1], [8, 8], 0.0), 150,
                                        ("slide", [512, 512], [384, 384]), True, 16, 0.3, (1500, 1e-7), 0.95,
                                        160000, 16000, ["ade20k_sem_seg_train"], ""),
    "ade20k/iiwa_swin_l_512x512_160k": (192, (384, 384, [1, 1, 1], [8, 8], 0.0), 150, ("whole", None, None),
                                        True, 8, 0.2, (1500, 1e-6), 0.95, 160000, 16000,
                                        ["ade20k_sem_seg_train"], ""),
    "cityscapes/iiwa_swin_s_512x1024_80k_coarse": (96, (384, 256, [1, 1, 1, 1], [4, 8], 0.1), 19,
                                                   ("whole", None, None), True, 16, None, (1500, 1e-6), 0.96,
                                                   80000, 8000, [COARSE, FINE], ""),
    "cityscapes/iiwa_swin_s_512x1024_80k": (96, (384, 256, [1, 1, 1, 1], [4, 8], 0.0), 19,
                                            ("slide", [512, 1024], [256, 512]), False, 16, None, (1000, 1e-6), 0.96,
                                            80000, 8000, [FINE],
                                            "./output/iiwa_swin_s_512x1024_80k_coarse/model_final.pth"),
    "cityscapes/iiwa_swin_s_512x1024_80k_trainval": (96, (384, 256, [1, 1, 1, 1], [4, 8], 0.0), 19,
                                                     ("slide", [512, 1024], [256, 512]), False, 16, None,
                                                     (1000, 1e-6), 0.96, 80000, 8000,
                                                     [FINE, "cityscapes_fine_sem_seg_val"],
                                                     "./output/iiwa_swin_s_512x1024_80k_coarse/model_final.pth"),
    "cityscapes/iiwa_swin_b_512x1024_80k_coarse": (128, (256, 256, [1, 1, 1], [4, 8], 0.0), 19,
                                                   ("slide", [512, 1024], [256, 512]), False, 16, 0.2, (1000, 1e-6),
                                                   0.96, 80000, 8000, [COARSE, FINE], ""),
    "cityscapes/iiwa_swin_b_512x1024_80k": (128, (256, 256, [1, 1, 1], [4, 8], 0.1), 19,
                                            ("slide", [512, 1024], [256, 512]), False, 16, 0.2, (1000, 1e-6), 0.96,
                                            80000, 8000, [FINE],
                                            "./output/iiwa_swin_b_512x1024_80k_coarse/model_final.pth"),
    "cityscapes/iiwa_swin_b_512x1024_80k_trainval": (128, (256, 256, [1, 1, 1], [4, 8], 0.0), 19,
                                                     ("slide", [512, 1024], [256, 512]), False, 16, 0.2,
                                                     (1000, 1e-6), 0.96, 80000, 8000,
                                                     [FINE, "cityscapes_fine_sem_seg_val"],
                                                     "./output/iiwa_swin_b_512x1024_80k_coarse/model_final.pth"),
    "pascal_context/iiwa_swin_s_480x480_40k": (96, (384, 256, [1, 1, 1, 1], [6, 6], 0.1), 59,
                                               ("slide", [480, 480], [320, 320]), True, 32, None, (750, 1e-6), 0.96,
                                               40000, 8000, ["pascal_context_59_sem_seg_train"], ""),
    "pascal_context/iiwa_swin_b_480x480_40k": (128, (256, 256, [1, 1, 1], [6, 6], 0.0), 59,
                                               ("slide", [480, 480], [320, 320]), True, 24, 0.2, (750, 1e-6), 0.96,
                                               40000, 8000, ["pascal_context_59_sem_seg_train"], ""),
}
CONFIGS = sorted(ROWS)
# Full-size models once per architecture: the Cityscapes stage-2 configs differ from their stage 1 only in
# the decoder's dropout rate and the test settings (test_recipe_follows_the_upstream_row); building a
# Swin-B takes seconds.
ARCHITECTURES = [name for name in CONFIGS if not name.endswith(("_80k", "_80k_trainval"))]
# A training crop / 8: the windows of every config still fit (at least one query window, enough keys).
SMALL_INPUT = {"ade20k": (64, 64), "cityscapes": (64, 128), "pascal_context": (60, 60)}


def load(name):
    return LazyConfig.load(os.path.join(IIWA_DIR, name + ".py"))


def group_of(optimizer):
    """Parameter name -> (lr, weight decay) of its optimiser group."""
    return {n: (g["lr"], g["weight_decay"]) for g in optimizer.param_groups for n in g["param_names"]}


@pytest.mark.parametrize("name", CONFIGS)
def test_recipe_follows_the_upstream_row(name):
    (embed, (head_embed, query, depths, window, drop), classes, (mode, crop, stride), multi_scale, batch, lr_mult,
     (warmup_iters, warmup_ratio), power, iters, period, datasets, init) = ROWS[name]
    cfg = load(name)
    model, head = cfg.model, cfg.model.head
    assert model.backbone.bottom_up.embed_dim == embed
    assert list(model.backbone.bottom_up.strides) == [4, 2, 1, 1]
    assert model.backbone.bottom_up.drop_path_rate == 0.3
    assert list(head.memory_dims) == [embed, 2 * embed, 4 * embed]
    assert (head.embed_dim, head.query_dim, list(head.depths)) == (head_embed, query, depths)
    assert list(head.window_size_q) == list(head.window_size_k) == window
    assert head.drop_rate == drop and (head.ohem_thresh, head.ohem_min_kept, head.aux_weight) == (0.7, 100000, 0.4)
    assert head.class_weight == (CITYSCAPES_WEIGHTS if classes == 19 else None)
    assert model.num_classes == classes and cfg.dataloader.train.mapper.num_classes == classes
    assert (model.test_mode, model.crop_size, model.stride) == (mode, crop, stride)
    assert (model.tta_scales, model.tta_flip) == ((TTA, True) if multi_scale else (None, False))
    assert cfg.dataloader.train.total_batch_size == batch
    keys = dict(cfg.optimizer.params.custom_keys)
    assert "backbone" not in keys  # would also hit the neck, backbone.fusions.*
    assert keys.get("backbone.bottom_up") == (None if lr_mult is None else {"lr_mult": lr_mult})
    assert (cfg.optimizer.lr, cfg.optimizer.weight_decay, tuple(cfg.optimizer.betas)) == (6e-5, 0.01, (0.9, 0.999))
    schedule = instantiate(cfg.lr_multiplier)
    assert schedule.max_iter == iters and schedule.power == power
    assert schedule.value_at(0) == pytest.approx(warmup_ratio)
    assert schedule.value_at(warmup_iters) == pytest.approx((1 - warmup_iters / iters) ** power)
    assert cfg.train.max_iter == iters and cfg.train.eval_period == cfg.train.checkpointer.period == period
    dataset = cfg.dataloader.train.dataset
    assert list(dataset.get("names", [dataset.get("name")])) == datasets
    assert cfg.train.init_checkpoint == init
    assert cfg.train.output_dir == "./output/" + name.split("/")[1]


@pytest.mark.parametrize("name", ARCHITECTURES)
@pytest.mark.slow
def test_full_size_model_and_optimizer_groups(name):
    embed, lr_mult = ROWS[name][0], ROWS[name][6]
    cfg = load(name)
    model = instantiate(cfg.model)
    assert isinstance(model.backbone, IIWAFusionNeck) and isinstance(model.sem_seg_head, IIWADecoderHead)
    assert isinstance(model.backbone.bottom_up, D2SwinTransformer)
    assert round(parameter_count(model.backbone.bottom_up)[""] / 1e6, 2) == SWIN_PARAMS[embed]
    shapes = model.backbone.output_shape()
    assert [shapes[f].stride for f in ("f0", "f1", "f2", "res5")] == [4, 8, 8, 8]
    assert [shapes[f].channels for f in ("f0", "f1", "f2", "res5")] == [embed, 2 * embed, 4 * embed, 8 * embed]

    cfg.optimizer.params.model = model
    groups = group_of(instantiate(cfg.optimizer))
    assert len(groups) == len(list(model.parameters()))
    lr, m = 6e-5, 1.0 if lr_mult is None else lr_mult
    swin = "backbone.bottom_up."
    expected = {
        # mmcv's name rule: the longest key decides, so "backbone.bottom_up" beats "norm" (decay kept) ...
        swin + "norm0.weight": (lr * m, 0.01 if lr_mult else 0.0),
        swin + "layers.2.blocks.5.norm1.bias": (lr * m, 0.01 if lr_mult else 0.0),
        swin + "patch_embed.proj.weight": (lr * m, 0.01),
        swin + "layers.2.blocks.5.attn.qkv.weight": (lr * m, 0.01),
        # ... and "relative_position_bias_table" beats "backbone.bottom_up" (lr x 1, no decay).
        swin + "layers.2.blocks.5.attn.relative_position_bias_table": (lr, 0.0),
        "backbone.fusions.0.norm1.weight": (lr, 0.0),
        "backbone.fusions.2.q_lin.weight": (lr, 0.01),
        "backbone.fusions.1.proj.0.weight": (lr, 0.01),  # a LayerNorm whose name lacks "norm"
        "sem_seg_head.query_norm.weight": (lr, 0.0),
        "sem_seg_head.blocks.0.cross_attn.relative_position_bias_table": (lr, 0.0),
        "sem_seg_head.blocks.0.self_attn.qkv.weight": (lr, 0.01),
        "sem_seg_head.classifier.weight": (lr, 0.01),
    }
    for param, (want_lr, want_wd) in expected.items():
        got_lr, got_wd = groups[param]
        assert got_lr == pytest.approx(want_lr) and got_wd == pytest.approx(want_wd), param


def reduced(cfg):
    """The config's model with a tiny Swin (E=16) and a narrow decoder; every window left as configured."""
    cfg.model.backbone.bottom_up.update(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8])
    cfg.model.head.update(embed_dim=32, query_dim=32, memory_dims=(16, 32, 64))
    return cfg


@pytest.mark.slow
@pytest.mark.parametrize("name", CONFIGS)
def test_one_training_iteration_at_a_reduced_size(name):
    lr_mult = ROWS[name][6] or 1.0
    cfg = reduced(load(name))
    torch.manual_seed(0)
    model = instantiate(cfg.model).train()
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)  # at the base lr: the warm-up would hide the step
    h, w = SMALL_INPUT[name.split("/")[0]]
    losses = model(synthetic_batch(2, h, w, cfg.model.num_classes))
    assert set(losses) == {"loss_sem_seg", "loss_aux"}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values()), losses
    watched = {n: p.detach().clone() for n, p in model.named_parameters()
               if n in ("backbone.bottom_up.patch_embed.proj.weight", "sem_seg_head.classifier.weight")}
    optimizer.zero_grad()
    sum(losses.values()).backward()
    optimizer.step()
    params = dict(model.named_parameters())
    assert all(torch.isfinite(p).all() for p in params.values())
    # Adam's first step moves each weight by about its group's lr: lr_mult reaches the Swin only.
    steps = {n: (params[n].detach() - before).abs().max().item() for n, before in watched.items()}
    assert steps["sem_seg_head.classifier.weight"] == pytest.approx(6e-5, rel=0.05)
    assert steps["backbone.bottom_up.patch_embed.proj.weight"] == pytest.approx(6e-5 * lr_mult, rel=0.05)


# ---- the toy config -----------------------------------------------------------------------------------

def test_toy_config_model_fits_the_toy_crops():
    cfg = LazyConfig.load(TOY_CONFIG)
    model = instantiate(cfg.model)
    assert model.num_classes == 7 and model.test_mode == "whole"
    assert list(cfg.model.backbone.bottom_up.strides) == [4, 2, 1, 1]
    assert "relative_position_bias_table" in cfg.optimizer.params.custom_keys
    assert cfg.model.head.ohem_min_kept is None  # plain CE from scratch (see the config's docstring)
    assert cfg.optimizer.params.custom_keys["backbone.bottom_up"] == {"lr_mult": 0.3}
    features = model.backbone(torch.zeros(1, 3, 128, 128))
    assert [tuple(features[f].shape[2:]) for f in ("f0", "f1", "f2", "res5")] == [(32, 32)] + [(16, 16)] * 3


@pytest.mark.slow
def test_toy_config_loss_decreases_on_a_fixed_batch():
    _, history = train_on_fixed_batch(TOY_CONFIG, steps=8)
    assert all(math.isfinite(x) for x in history)
    assert history[-1] < 0.9 * history[0], history
