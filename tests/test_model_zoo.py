"""ctxseg.model_zoo: names, listing, loading every config, unknown names, weights not published."""
import os

import pytest
from detectron2.config import CfgNode
from omegaconf import DictConfig

from ctxseg import model_zoo
from ctxseg.config import load_config
from ctxseg.model_zoo.model_zoo import _all_names
from ctxseg.utils.errors import CheckpointError, ConfigError

from .conftest import ROOT

PROJECT_CONFIGS = sorted(
    f"{project}/{os.path.relpath(os.path.join(folder, f), os.path.join(ROOT, 'projects', project, 'configs'))}"
    for project in ("IIWA", "ContextCluster")
    for folder, _, files in os.walk(os.path.join(ROOT, "projects", project, "configs"))
    for f in files if f.endswith(".py"))
TOY_CONFIGS = sorted(f"toy/{f}" for f in os.listdir(os.path.join(ROOT, "configs", "toy")) if not f.startswith("Base-"))


def test_names_follow_the_source_tree():
    assert model_zoo.get_config_file("IIWA/ade20k/iiwa_swin_s_512x512_160k.py") == os.path.join(
        ROOT, "projects", "IIWA", "configs", "ade20k", "iiwa_swin_s_512x512_160k.py")
    assert model_zoo.get_config_file("toy/fpn_r18_toy.yaml") == os.path.join(ROOT, "configs", "toy", "fpn_r18_toy.yaml")
    assert model_zoo.get_config_file("common/models/iiwa.py") == os.path.join(ROOT, "configs", "common", "models",
                                                                               "iiwa.py")


def test_list_configs_lists_the_configs_to_run():
    names = model_zoo.list_configs()
    assert names == sorted(names)
    expected = [n for n in PROJECT_CONFIGS + TOY_CONFIGS if not n.rsplit("/", 1)[-1].startswith("base_")]
    assert names == sorted(expected)
    assert "IIWA/ade20k/iiwa_swin_s_512x512_160k.py" in names and "toy/iiwa_swin_toy.yaml" in names
    assert not [n for n in names if n.startswith("common/") or "/base_" in n or "/Base-" in n]


@pytest.mark.parametrize("name", PROJECT_CONFIGS + TOY_CONFIGS)
def test_get_config_loads_every_config(name):
    cfg = model_zoo.get_config(name)
    if name.endswith(".yaml"):
        assert isinstance(cfg, CfgNode) and cfg.MODEL.META_ARCHITECTURE == "EncoderDecoderSegmentor"
    else:
        assert isinstance(cfg, DictConfig)
        assert {"model", "dataloader", "optimizer", "lr_multiplier", "train"} <= set(cfg.keys())


def test_get_config_of_the_issue_example_and_building_a_toy_model():
    cfg = model_zoo.get_config("IIWA/ade20k/iiwa_swin_s_512x512_160k.py")
    assert cfg.model.num_classes == 150 and cfg.train.max_iter == 160000
    model = model_zoo.get("toy/fpn_coc_toy.yaml")
    assert type(model).__name__ == "EncoderDecoderSegmentor" and model.num_classes == 7


def test_unknown_names_list_the_close_ones():
    with pytest.raises(ConfigError, match=r"no config named 'IIWA/ade20k/iiwa_swin_s_512x512_80k.py'.*did you mean "
                                          r"IIWA/ade20k/iiwa_swin_s_512x512_160k.py"):
        model_zoo.get_config("IIWA/ade20k/iiwa_swin_s_512x512_80k.py")
    with pytest.raises(ConfigError, match=r"did you mean .*toy/fpn_r18_toy.py"):
        model_zoo.get_config_file("fpn_r18_toy.py")
    with pytest.raises(ConfigError, match="no config named"):
        model_zoo.get_config_file("../setup.py")


def test_no_weights_are_published_yet():
    with pytest.raises(CheckpointError, match="no trained weights are published"):
        model_zoo.get_checkpoint_url("IIWA/ade20k/iiwa_swin_s_512x512_160k.py")
    with pytest.raises(CheckpointError, match="no trained weights are published"):
        model_zoo.get_config("toy/fpn_r18_toy.py", trained=True)
    with pytest.raises(ConfigError, match="no config named"):
        model_zoo.get_checkpoint_url("IIWA/nothing.py")


def test_load_config_takes_a_model_zoo_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no file of that path here
    cfg = load_config("toy/fpn_swin_toy.yaml", ["SOLVER.MAX_ITER=7"])
    assert cfg.train.max_iter == 7
    with pytest.raises(ConfigError, match="config file not found: toy/nope.py"):
        load_config("toy/nope.py")


def test_every_config_name_is_unique_and_portable():
    names = _all_names(ROOT)
    assert len(names) == len(set(names))
    assert all("\\" not in n and " " not in n for n in names)
