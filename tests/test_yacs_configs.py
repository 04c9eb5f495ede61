"""yacs configs: each family's YAML builds the .py config's model exactly, keys are checked, a YAML trains."""
import json
import os

import pytest
import torch
from detectron2.config import LazyConfig, get_cfg, instantiate
from detectron2.modeling import build_backbone, build_model

from ctxseg.config import add_ctxseg_config, load_config
from ctxseg.config.yaml_config import is_yacs_yaml, load_yacs_config
from ctxseg.utils.errors import ConfigError
from ctxseg_cli import train_net

from .conftest import ROOT
from .synthetic import synthetic_batch

TOY = os.path.join(ROOT, "configs", "toy")
FAMILIES = ["fpn_r18_toy", "fpn_swin_toy", "fpn_coc_toy", pytest.param("iiwa_swin_toy", marks=pytest.mark.slow)]


def lazy_and_yacs_models(name):
    lazy = instantiate(LazyConfig.load(os.path.join(TOY, f"{name}.py")).model)
    from_yaml = instantiate(load_config(os.path.join(TOY, f"{name}.yaml")).model)
    return lazy, from_yaml


@pytest.mark.parametrize("name", FAMILIES)
def test_yaml_builds_the_lazyconfig_model(name):
    lazy, from_yaml = lazy_and_yacs_models(name)
    assert type(from_yaml) is type(lazy) and type(from_yaml.backbone) is type(lazy.backbone)
    assert {k: v.shape for k, v in from_yaml.state_dict().items()} == {k: v.shape for k, v in lazy.state_dict().items()}
    for attribute in ("num_classes", "ignore_label", "size_divisibility", "test_mode", "crop_size", "stride",
                      "tta_scales", "tta_flip"):
        assert getattr(from_yaml, attribute) == getattr(lazy, attribute), attribute
    assert torch.equal(from_yaml.pixel_mean, lazy.pixel_mean) and torch.equal(from_yaml.pixel_std, lazy.pixel_std)

    from_yaml.load_state_dict(lazy.state_dict())
    samples = synthetic_batch(2, 32, 32, lazy.num_classes)
    for model in (lazy, from_yaml):  # the same losses: same reductions, weights and dropout draws
        torch.manual_seed(0)
        model.train()
        model.losses = {k: v.item() for k, v in model(samples).items()}
    assert from_yaml.losses == pytest.approx(lazy.losses, rel=1e-6)
    with torch.no_grad():
        expected = lazy.eval()(samples)[0]["sem_seg"]
        actual = from_yaml.eval()(samples)[0]["sem_seg"]
    torch.testing.assert_close(actual, expected)


def test_detectron2_build_model_builds_swin_iiwa_from_the_yaml():
    # MODEL.DEVICE "auto" (CUDA when available) is ctxseg's; Detectron2's build_model needs "cpu" or "cuda".
    cfg = load_yacs_config(os.path.join(TOY, "iiwa_swin_toy.yaml"), ["MODEL.DEVICE=cpu"])
    model = build_model(cfg)
    assert type(model).__name__ == "EncoderDecoderSegmentor"
    assert type(model.backbone).__name__ == "IIWAFusionNeck" and type(model.sem_seg_head).__name__ == "IIWADecoderHead"
    assert model.backbone.bottom_up.strides == (4, 2, 1, 1)
    assert model.sem_seg_head.memory_dims == [32, 64, 128] and model.sem_seg_head.query_in_channels == 256


def test_add_ctxseg_config_keeps_existing_values_and_detectron2_defaults():
    cfg = get_cfg()
    defaults = cfg.clone()
    cfg.MODEL.SWIN = type(cfg)({"EMBED_DIM": 128, "DEPTHS": [2, 2, 18, 2]})  # another project's node
    add_ctxseg_config(cfg)
    add_ctxseg_config(cfg)
    assert cfg.MODEL.SWIN.EMBED_DIM == 128 and cfg.MODEL.SWIN.STRIDES == [4, 2, 2, 2]
    assert cfg.MODEL.COC.SIZE == "small" and cfg.MODEL.SEGMENTOR.TEST_MODE == "whole"
    for key in ("MODEL.PIXEL_MEAN", "INPUT.FORMAT", "SOLVER.BASE_LR", "MODEL.SEM_SEG_HEAD.NUM_CLASSES"):
        section, *path = key.split(".")
        a, b = cfg[section], defaults[section]
        for part in path:
            a, b = a[part], b[part]
        assert a == b, key


@pytest.mark.parametrize("key, value", [("APE", True), ("QK_SCALE", 0.1), ("QKV_BIAS", False), ("DROP_RATE", 0.1),
                                        ("ATTN_DROP_RATE", 0.1), ("PATCH_NORM", False)])
def test_swin_keys_ctxseg_does_not_implement_are_refused(key, value):
    cfg = add_ctxseg_config(get_cfg())
    cfg.MODEL.BACKBONE.NAME = "D2SwinTransformer"
    cfg.MODEL.SWIN.update(EMBED_DIM=16, DEPTHS=[1, 1, 1, 1], NUM_HEADS=[1, 1, 1, 1])
    cfg.MODEL.SWIN[key] = value
    with pytest.raises(ConfigError, match=f"MODEL.SWIN.{key}="):
        build_backbone(cfg)


def test_coc_architecture_keys_replace_the_variant():
    cfg = add_ctxseg_config(get_cfg())
    cfg.MODEL.BACKBONE.NAME = "D2ContextCluster"
    cfg.MODEL.COC.update(SIZE="medium", PROPOSALS=25, DEPTHS=[1, 1, 1, 1], EMBED_DIMS=[8, 16, 24, 32])
    backbone = build_backbone(cfg)
    assert [len(stage) for stage in backbone.network[::2]] == [1, 1, 1, 1]
    assert backbone.embed_dims == (8, 16, 24, 32)
    block = backbone.network[0][0].token_mixer
    assert block.proposal_size == 5 and block.heads == 6  # medium's heads, 25 proposals' 5x5 centres
    cfg.MODEL.COC.SIZE = "huge"
    with pytest.raises(ConfigError, match="MODEL.COC.SIZE"):
        build_backbone(cfg)


def test_yaml_overrides_are_checked():
    path = os.path.join(TOY, "fpn_swin_toy.yaml")
    cfg = load_yacs_config(path, ["SOLVER.BASE_LR=1", "MODEL.SWIN.DEPTHS=[2,2,2,2]", "MODEL.WEIGHTS=null"])
    assert cfg.SOLVER.BASE_LR == 1.0 and isinstance(cfg.SOLVER.BASE_LR, float)
    assert list(cfg.MODEL.SWIN.DEPTHS) == [2, 2, 2, 2] and cfg.MODEL.WEIGHTS is None
    cases = {
        "SOLVER.MAX_ITR=5": "did you mean SOLVER.MAX_ITER",
        "train.max_iter=5": "a YAML config takes its own upper-case keys",
        "SOLVER.MAX_ITER=fast": "SOLVER.MAX_ITER expects a value like 2000",
        "+SOLVER.NEW=1": "cannot add one",
        "SOLVER=1": "is a section",
        "SOLVER.MAX_ITER=0": "SOLVER.MAX_ITER must be a positive integer",
        "INPUT.MIN_SIZE_TEST=100": "INPUT.MIN_SIZE_TEST=100 is not read by ctxseg's training; use INPUT.BASE_SCALE",
        "INPUT.FORMAT=BGR": "INPUT.FORMAT must be 'RGB'",
        "SOLVER.LR_SCHEDULER_NAME=WarmupMultiStepLR": "SOLVER.LR_SCHEDULER_NAME must be 'WarmupPolyLR'",
        "SOLVER.PARAM_GROUPS=[['norm',0.0]]": "SOLVER.PARAM_GROUPS entries must be",
        "SOLVER.OPTIMIZER=LAMB": "SOLVER.OPTIMIZER must be 'ADAMW' or 'SGD'",
        "INPUT.CROP.SIZE=[0.9,0.9]": "INPUT.CROP.SIZE must be two positive integers",
        "INPUT.RATIO_RANGE=[2.0,0.5]": "INPUT.RATIO_RANGE must be two positive numbers, low then high",
        "DATASETS.TEST=()": "DATASETS.TEST must name one dataset",
    }
    for override, message in cases.items():
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("+", r"\+")):
            load_config(path, [override])


def test_yaml_file_errors_name_the_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"_BASE_: {os.path.join(TOY, 'fpn_swin_toy.yaml')}\nMODEL:\n  SWIN:\n    EMBED_DIMS: 64\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: the config has no key 'MODEL.SWIN.EMBED_DIMS'; did you mean "
                                          r"MODEL.SWIN.EMBED_DIM"):
        load_config(str(bad))


def test_sgd_and_param_groups_become_the_optimizer_section():
    cfg = load_config(os.path.join(TOY, "fpn_swin_toy.yaml"), ["SOLVER.OPTIMIZER=SGD", "SOLVER.MOMENTUM=0.8"])
    model = instantiate(cfg.model)
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    assert isinstance(optimizer, torch.optim.SGD)
    decays = {group["weight_decay"] for group in optimizer.param_groups}
    assert decays == {0.0, 1e-4} and {group["momentum"] for group in optimizer.param_groups} == {0.8}
    norm_group = next(g for g in optimizer.param_groups if "backbone.bottom_up.norm0.weight" in g["param_names"])
    assert norm_group["weight_decay"] == 0.0
    assert cfg.lr_multiplier.power == 1.0 and cfg.lr_multiplier.warmup_iters == 100
    assert (cfg.train.max_iter, cfg.train.eval_period) == (2000, 1000)
    assert cfg.train.output_dir == "./output/fpn_swin_toy_yaml"


def test_a_saved_converted_config_is_a_lazyconfig(tmp_path):
    cfg = load_config(os.path.join(TOY, "fpn_coc_toy.yaml"))
    LazyConfig.save(cfg, str(tmp_path / "config.yaml"))
    assert is_yacs_yaml(os.path.join(TOY, "fpn_coc_toy.yaml")) and not is_yacs_yaml(str(tmp_path / "config.yaml"))
    reloaded = load_config(str(tmp_path / "config.yaml"), ["model.cfg.MODEL.COC.HEAD_DIM=8"])
    cluster = instantiate(reloaded.model).backbone.bottom_up.network[0][0].token_mixer
    assert cluster.f.out_channels == cluster.heads * 8


@pytest.mark.slow
def test_a_yaml_toy_config_trains_from_the_command_line(toy_root, tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", toy_root)
    out = tmp_path / "run"
    status = train_net.main([
        "--config-file", os.path.join(TOY, "fpn_r18_toy.yaml"), f"OUTPUT_DIR={out}", "SOLVER.MAX_ITER=2",
        "SOLVER.IMS_PER_BATCH=2", "SOLVER.CHECKPOINT_PERIOD=2", "SOLVER.WARMUP_ITERS=1", "TEST.EVAL_PERIOD=2",
        "INPUT.CROP.SIZE=[64,64]", "INPUT.BASE_SCALE=[320,64]", "DATALOADER.NUM_WORKERS=0",
        "MODEL.FPN.OUT_CHANNELS=16", "MODEL.SEM_SEG_HEAD.CONVS_DIM=16"])
    assert status == 0
    assert (out / "model_final.pth").is_file()
    with open(out / "inference" / "sem_seg_evaluation.json") as f:
        assert 0.0 <= json.load(f)["mIoU"] <= 100.0
    with open(out / "version.json") as f:
        version = json.load(f)
    import ctxseg

    assert version["ctxseg"] == ctxseg.__version__ and version["torch"] == torch.__version__
    saved = load_config(str(out / "config.yaml"))  # the run's converted config, reloadable as it is
    assert saved.train.max_iter == 2 and saved.model.cfg.MODEL.FPN.OUT_CHANNELS == 16
