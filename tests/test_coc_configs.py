"""The Context Cluster Semantic FPN configs: models, recipe, one training step each, toy training,
and an mmseg checkpoint converted and run against a plain restatement of mmseg's FPN + FPNHead."""
import argparse
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from detectron2.config import LazyCall as L
from detectron2.config import LazyConfig, instantiate
from detectron2.data import transforms as T
from fvcore.nn import parameter_count

import ctxseg  # noqa: F401  (patches Detectron2 before it is used)
from ctxseg.checkpoint import convert_file
from ctxseg.data import AlignResize, PadToSize, RandomCropCategoryRatio, ResizeKeepRatio
from ctxseg.engine import do_train
from ctxseg.modeling.backbone.context_cluster import Cluster, D2ContextCluster

from .synthetic import synthetic_batch, train_on_fixed_batch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COC_DIR = os.path.join("projects", "ContextCluster", "configs", "ade20k")
VARIANTS = [(size, proposals) for size in ("small", "medium") for proposals in (4, 25, 49)]
PARAMS = {"small": (18_411_694, 14_145_048), "medium": (33_045_190, 28_778_544)}
PROPOSAL_SIDES = {4: 2, 25: 5, 49: 7}
TOY_CONFIG = os.path.join(ROOT, "configs", "toy", "fpn_coc_toy.py")


def load_coc(size, proposals):
    return LazyConfig.load(os.path.join(ROOT, COC_DIR, f"fpn_coc_{size}_{proposals}_512x512_80k.py"))


def pixel_noise_batch(num_classes=150):
    """Two 64x64 samples of per-pixel random colours (labels by red value, last 8 rows ignored)."""
    return synthetic_batch(2, 64, 64, num_classes, block=1, ignored_rows=8)


# ---- the six ADE20K configs -----------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("size, proposals", VARIANTS)
def test_model_builds_with_published_parameter_counts(size, proposals):
    model = instantiate(load_coc(size, proposals).model)
    counts = parameter_count(model)
    assert (counts[""], counts["backbone.bottom_up"]) == PARAMS[size]
    bottom_up = model.backbone.bottom_up
    assert isinstance(bottom_up, D2ContextCluster)
    clusters = [m for m in bottom_up.modules() if isinstance(m, Cluster)]
    assert len(clusters) == (12 if size == "small" else 24)
    assert {(c.proposal_size, c.agg_norm) for c in clusters} == {(PROPOSAL_SIDES[proposals], "sim")}
    assert {c.fold for c in clusters} == {8, 4, 2, 1}
    assert isinstance(model.sem_seg_head.p2[0].norm, torch.nn.SyncBatchNorm)
    assert model.sem_seg_head.loss.reduction == "all"
    assert model.num_classes == 150 and model.test_mode == "whole"


def test_recipe():
    cfg = load_coc("small", 25)
    assert cfg.optimizer.lr == 1e-4 and cfg.optimizer.weight_decay == 1e-4
    assert dict(cfg.optimizer.params.custom_keys) == {}
    assert cfg.dataloader.train.total_batch_size == 32
    assert (cfg.train.max_iter, cfg.train.eval_period, cfg.train.checkpointer.period) == (80000, 8000, 8000)
    assert cfg.train.init_checkpoint == ""
    schedule = instantiate(cfg.lr_multiplier)
    assert schedule(0.0) == 1.0  # no warm-up
    assert schedule(0.5) == pytest.approx(0.5 ** 0.9)
    assert schedule(1.0) == 0.0


def test_train_pipeline_pads_crops_to_512():
    cfg = load_coc("medium", 4)
    augs = [instantiate(a) for a in cfg.dataloader.train.mapper.augmentations]
    crop = [a for a in augs if isinstance(a, RandomCropCategoryRatio)]
    pad = [a for a in augs if isinstance(a, PadToSize)]
    assert len(crop) == 1 and tuple(crop[0].crop_size) == (512, 512)
    assert len(pad) == 1 and isinstance(augs[-1], PadToSize) and tuple(pad[0].size) == (512, 512)
    rng = np.random.default_rng(0)
    for shape in ((200, 300), (700, 400)):  # small images end up smaller than the crop, large ones larger
        image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        label = rng.integers(0, 150, shape).astype(np.int32)
        aug_input = T.AugInput(image, sem_seg=label)
        T.AugmentationList(augs)(aug_input)
        assert aug_input.image.shape == (512, 512, 3) and aug_input.sem_seg.shape == (512, 512)


def test_test_pipeline_aligns_to_multiples_of_32():
    cfg = load_coc("small", 49)
    augs = [instantiate(a) for a in cfg.dataloader.test.mapper.augmentations]
    assert [type(a) for a in augs] == [ResizeKeepRatio, AlignResize]
    for (h, w), expected in (((512, 683), (512, 704)), ((300, 400), (512, 704)), ((1000, 600), (864, 512))):
        aug_input = T.AugInput(np.zeros((h, w, 3), dtype=np.uint8))
        T.AugmentationList(augs)(aug_input)
        assert aug_input.image.shape[:2] == expected


@pytest.mark.parametrize("size, proposals", VARIANTS)
@pytest.mark.slow
def test_one_training_iteration_at_64x64(size, proposals):
    cfg = load_coc(size, proposals)
    torch.manual_seed(0)
    model = instantiate(cfg.model).train()
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    assert all(g["weight_decay"] == 1e-4 and g["lr"] == 1e-4 for g in optimizer.param_groups)
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))
    schedule = instantiate(cfg.lr_multiplier)
    for group in optimizer.param_groups:
        group["lr"] *= schedule(0.0)

    losses = model(pixel_noise_batch())
    assert set(losses) == {"loss_sem_seg"} and torch.isfinite(losses["loss_sem_seg"])
    before = model.sem_seg_head.predictor.weight.detach().clone()
    layer_scale = model.backbone.bottom_up.network[0][0].layer_scale_1.detach().clone()
    optimizer.zero_grad()
    losses["loss_sem_seg"].backward()
    optimizer.step()
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert not torch.equal(before, model.sem_seg_head.predictor.weight)
    assert not torch.equal(layer_scale, model.backbone.bottom_up.network[0][0].layer_scale_1)


# ---- the toy config ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_toy_config_loss_decreases_on_a_fixed_batch():
    model, history = train_on_fixed_batch(TOY_CONFIG, steps=6, block=1, ignored_rows=8)
    assert isinstance(model.backbone.bottom_up, D2ContextCluster)
    assert all(math.isfinite(x) for x in history)
    assert history[-1] < 0.99 * history[0], history  # from ln(7): the classifier starts at N(0, 0.01)


@pytest.mark.slow
def test_toy_config_trains_and_evaluates_through_its_loaders(tmp_path, monkeypatch):
    data = tmp_path / "datasets"
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_toy_dataset.py"), "--out", str(data / "toy"),
                    "--train", "4", "--val", "2", "--size", "64", "80"], check=True, capture_output=True)
    monkeypatch.setenv("DETECTRON2_DATASETS", str(data))
    cfg = LazyConfig.apply_overrides(LazyConfig.load(TOY_CONFIG), [
        f"train.output_dir={tmp_path / 'run'}", "train.max_iter=2", "train.eval_period=2",
        "train.checkpointer.period=2", "dataloader.train.total_batch_size=2", "dataloader.train.num_workers=0",
        "dataloader.test.num_workers=0", "train.log_period=1",
    ])
    sample = instantiate(cfg.dataloader.test.mapper)(instantiate(cfg.dataloader.test.dataset)[0])
    assert all(s % 32 == 0 for s in sample["image"].shape[1:])  # 64x80 -> 128x160
    trainer = do_train(argparse.Namespace(resume=False), cfg)
    assert trainer.iter == 2
    assert os.path.isfile(tmp_path / "run" / "model_final.pth")
    assert os.path.isfile(tmp_path / "run" / "inference" / "sem_seg_evaluation.json")


# ---- an mmseg checkpoint, converted, against mmseg's FPN + FPNHead restated -------------------------------

TINY = dict(depths=(1, 1, 2, 1), embed_dims=(16, 32, 48, 64), mlp_ratios=(4, 4, 2, 2), heads=(2, 2, 4, 4),
            head_dim=8, proposal_size=2, agg_norm="count")
STRIDES = (4, 8, 16, 32)


def scale_head_convs(level):
    """Sequential indices of the 3x3 convs of mmseg's scale head ``level`` (Upsample at odd ones)."""
    return tuple(range(0, 2 * max(1, int(math.log2(STRIDES[level])) - 2), 2))


def synthetic_mmseg_checkpoint(seed=0, num_classes=150):
    """Random tensors under the mmseg 0.x key names of the official release (4-D MLP weights, as released)."""
    g = torch.Generator().manual_seed(seed)

    def conv(out_c, in_c, k):
        return torch.randn(out_c, in_c, k, k, generator=g) / math.sqrt(in_c * k * k)

    def uniform(shape, low, high):
        return low + (high - low) * torch.rand(shape, generator=g)

    state = {}
    for key, tensor in D2ContextCluster(**TINY).state_dict().items():
        if key.endswith(("layer_scale_1", "layer_scale_2")):
            value = uniform(tensor.shape, 0.2, 1.0)  # far from 1e-5, so every block matters
        elif key.endswith(("sim_alpha", "sim_beta")) or key.endswith("bias"):
            value = 0.5 * torch.randn(tensor.shape, generator=g)
        elif tensor.dim() == 1:  # GroupNorm weights
            value = uniform(tensor.shape, 0.5, 1.5)
        else:
            value = torch.randn(tensor.shape, generator=g) / math.sqrt(tensor[0].numel())
        if ".mlp.fc" in key and key.endswith(".weight"):
            value = value[:, :, None, None]
        state["backbone." + key] = value
    for i, channels in enumerate(TINY["embed_dims"]):
        state[f"neck.lateral_convs.{i}.conv.weight"] = conv(256, channels, 1)
        state[f"neck.lateral_convs.{i}.conv.bias"] = 0.1 * torch.randn(256, generator=g)
        state[f"neck.fpn_convs.{i}.conv.weight"] = conv(256, 256, 3)
        state[f"neck.fpn_convs.{i}.conv.bias"] = 0.1 * torch.randn(256, generator=g)
        for j in scale_head_convs(i):
            prefix = f"decode_head.scale_heads.{i}.{j}"
            state[f"{prefix}.conv.weight"] = conv(128, 256 if j == 0 else 128, 3)
            state[f"{prefix}.bn.weight"] = uniform(128, 0.5, 1.5)
            state[f"{prefix}.bn.bias"] = 0.1 * torch.randn(128, generator=g)
            state[f"{prefix}.bn.running_mean"] = 0.1 * torch.randn(128, generator=g)
            state[f"{prefix}.bn.running_var"] = uniform(128, 0.5, 2.0)
            state[f"{prefix}.bn.num_batches_tracked"] = torch.tensor(80000)
    state["decode_head.conv_seg.weight"] = conv(num_classes, 128, 1)
    state["decode_head.conv_seg.bias"] = 0.1 * torch.randn(num_classes, generator=g)
    return {"state_dict": state, "meta": {"mmseg_version": "0.19.0"}}


def mmseg_fpn_logits(sd, feats):
    """mmseg's FPN neck and FPNHead (mmseg 0.19) in eval mode, from mmseg-named tensors: stride-4 logits."""
    laterals = [F.conv2d(x, sd[f"neck.lateral_convs.{i}.conv.weight"], sd[f"neck.lateral_convs.{i}.conv.bias"])
                for i, x in enumerate(feats)]
    for i in range(len(laterals) - 1, 0, -1):
        laterals[i - 1] = laterals[i - 1] + F.interpolate(laterals[i], size=laterals[i - 1].shape[2:], mode="nearest")
    outs = [F.conv2d(x, sd[f"neck.fpn_convs.{i}.conv.weight"], sd[f"neck.fpn_convs.{i}.conv.bias"], padding=1)
            for i, x in enumerate(laterals)]
    fused = None
    for i, x in enumerate(outs):
        for j in scale_head_convs(i):
            p = f"decode_head.scale_heads.{i}.{j}"
            x = F.conv2d(x, sd[f"{p}.conv.weight"], padding=1)
            x = F.batch_norm(x, sd[f"{p}.bn.running_mean"], sd[f"{p}.bn.running_var"], sd[f"{p}.bn.weight"],
                             sd[f"{p}.bn.bias"], training=False, eps=1e-5)
            x = F.relu(x)
            if STRIDES[i] != 4:
                x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        if fused is None:
            fused = x
        else:
            fused = fused + F.interpolate(x, size=fused.shape[2:], mode="bilinear", align_corners=False)
    # Dropout2d is the identity in eval mode.
    return F.conv2d(fused, sd["decode_head.conv_seg.weight"], sd["decode_head.conv_seg.bias"])


@pytest.mark.slow
def test_mmseg_checkpoint_converts_loads_strictly_and_matches_mmseg_fpn(tmp_path):
    checkpoint = synthetic_mmseg_checkpoint()
    source = tmp_path / "iter_80000.pth"
    torch.save(checkpoint, source)
    result = convert_file("coc-mmseg", str(source), str(tmp_path / "converted.pth"))
    assert not result.missing_keys and not result.unused_keys

    cfg = load_coc("small", 4)
    cfg.model.backbone.bottom_up = L(D2ContextCluster)(**TINY)
    model = instantiate(cfg.model)
    converted = torch.load(tmp_path / "converted.pth", weights_only=True)["model"]
    model.load_state_dict(converted, strict=True)
    model.eval().double()

    sd = {k: v.double() if v.is_floating_point() else v for k, v in checkpoint["state_dict"].items()}
    reference_backbone = D2ContextCluster(**TINY)
    backbone_sd = {k[len("backbone."):]: v.flatten(1) if ".mlp.fc" in k and v.dim() == 4 else v
                   for k, v in sd.items() if k.startswith("backbone.")}
    reference_backbone.load_state_dict(backbone_sd, strict=True)
    reference_backbone.eval().double()

    image = torch.randint(0, 256, (3, 64, 96), generator=torch.Generator().manual_seed(1)).to(torch.uint8)
    x = ((image.double() - model.pixel_mean.double()) / model.pixel_std.double())[None]
    with torch.no_grad():
        expected = mmseg_fpn_logits(sd, list(reference_backbone(x).values()))
        logits = model.sem_seg_head(model.backbone(x))
        assert logits.shape == (1, 150, 16, 24)
        assert expected.abs().max() > 1.0  # a meaningful comparison, not of near-zero maps
        torch.testing.assert_close(logits, expected, rtol=0, atol=1e-10)
        # The segmentor resizes its logits to the input size in float32.
        expected_full = F.interpolate(expected.float(), size=(64, 96), mode="bilinear", align_corners=False)
        torch.testing.assert_close(model.encode_decode(x), expected_full, rtol=0, atol=1e-5)

        model.float()  # the segmentor's whole-image inference path, in float32
        probs = model([{"image": image, "height": 64, "width": 96}])[0]["sem_seg"]
        torch.testing.assert_close(probs, expected_full[0].softmax(0), rtol=0, atol=1e-5)
