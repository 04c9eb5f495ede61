"""Catalog entries, dataset configs, submission files and the browse tool on fixture trees."""
import importlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.data import MetadataCatalog
from detectron2.utils.events import EventStorage
from PIL import Image

import ctxseg  # noqa: F401
from ctxseg.data import SemSegDatasetMapper, get_dataset_dicts
from ctxseg.evaluation import SemSegEvaluator

from .dataset_trees import context459_label, make_ade, make_cityscapes, make_pascal_context

ROOT = Path(__file__).resolve().parents[1]


def _tool(name):
    return importlib.import_module(f"ctxseg_cli.{name}")


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """Every fixture tree under one DETECTRON2_DATASETS, prepared by the tools."""
    root = str(tmp_path_factory.mktemp("datasets"))
    assert _tool("prepare_ade20k").main(["--root", make_ade(root), "--allow-partial", "--workers", "1"]) == 0
    assert _tool("prepare_cityscapes").main(["--root", make_cityscapes(root), "--coarse", "--allow-partial",
                                             "--workers", "1"]) == 0
    assert _tool("prepare_pascal_context").main(["--root", make_pascal_context(root), "--allow-partial",
                                                 "--workers", "1"]) == 0
    old = os.environ.get("DETECTRON2_DATASETS")
    os.environ["DETECTRON2_DATASETS"] = root
    yield root
    if old is None:
        del os.environ["DETECTRON2_DATASETS"]
    else:
        os.environ["DETECTRON2_DATASETS"] = old


def _labels(name):
    meta = MetadataCatalog.get(name)
    mapper = SemSegDatasetMapper(False, [], num_classes=len(meta.stuff_classes), ignore_label=meta.ignore_label)
    return [mapper(d)["sem_seg"].numpy() for d in get_dataset_dicts(name)]


def test_metadata_of_every_entry():
    expected = {"ade20k_sem_seg_val": (150, 255), "ade20k_raw_sem_seg_train": (150, 255),
                "cityscapes_fine_sem_seg_test": (19, 255), "cityscapes_coarse_sem_seg_train_extra": (19, 255),
                "pascal_context_59_sem_seg_train": (59, 255), "pascal_context_459_sem_seg_val": (459, 65535)}
    for name, (k, ignore) in expected.items():
        meta = MetadataCatalog.get(name)
        assert len(meta.stuff_classes) == k and len(meta.stuff_colors) == k, name
        assert meta.ignore_label == ignore and meta.evaluator_type == "sem_seg", name
    assert MetadataCatalog.get("cityscapes_fine_sem_seg_val").stuff_classes[13] == "car"
    assert MetadataCatalog.get("pascal_context_59_sem_seg_val").stuff_classes[36] == "person"


def test_ade20k_entries(datasets):
    prepared, raw = _labels("ade20k_sem_seg_train"), _labels("ade20k_raw_sem_seg_train")
    assert len(prepared) == 2
    for i, (a, b) in enumerate(zip(prepared, raw)):
        np.testing.assert_array_equal(a, b)  # prepared on disk == reduced on the fly
        assert (a[:, :2] == 255).all() and (a[:, 2:20] == 0).all() and (a[:, 20:40] == 149).all()
        assert (a[:, 40:] == 4 + i).all()
    assert len(get_dataset_dicts("ade20k_sem_seg_val")) == 2  # roots follow $DETECTRON2_DATASETS at load time
    meta = MetadataCatalog.get("ade20k_sem_seg_val")
    assert meta.sem_seg_root == os.path.join(datasets, "ADEChallengeData2016", "annotations_detectron2", "validation")


def test_cityscapes_entries(datasets):
    for name, count in (("cityscapes_fine_sem_seg_train", 2), ("cityscapes_fine_sem_seg_val", 1),
                        ("cityscapes_fine_sem_seg_test", 1), ("cityscapes_coarse_sem_seg_train_extra", 1)):
        labels = _labels(name)
        assert len(labels) == count
        assert set(np.unique(labels[0]).tolist()) == {0, 10, 13, 255}
        assert labels[0][5, 5] == 10 and labels[0][40, 20] == 13


def test_pascal_context_entries(datasets):
    ctx59 = _labels("pascal_context_59_sem_seg_train")
    assert len(ctx59) == 2 and len(_labels("pascal_context_59_sem_seg_val")) == 1
    assert set(np.unique(ctx59[0]).tolist()) == {0, 36, 58, 255}
    ctx459 = _labels("pascal_context_459_sem_seg_train")
    raw = context459_label(0).astype(np.int64)
    np.testing.assert_array_equal(ctx459[0], np.where(raw == 0, 65535, raw - 1))  # 458 and 65535 intact
    assert ctx459[0].max() == 65535 and 458 in ctx459[0]


def test_missing_folder_names_path_and_tool(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    for name, tool in (("ade20k_sem_seg_val", "prepare_ade20k.py"), ("cityscapes_fine_sem_seg_val",
                       "prepare_cityscapes.py"), ("pascal_context_459_sem_seg_val", "prepare_pascal_context.py")):
        with pytest.raises(FileNotFoundError, match=tool) as info:
            get_dataset_dicts(name)
        assert str(tmp_path) in str(info.value)


def _tiny(cfg_name, ignore_label):
    cfg = LazyConfig.load(str(ROOT / "configs" / "common" / "data" / f"{cfg_name}.py"))
    model = LazyConfig.load(str(ROOT / "configs" / "common" / "models" / "semantic_fpn.py")).model
    model.backbone.out_channels = 16
    model.head.conv_dims = 16
    model.num_classes = cfg.dataloader.train.mapper.num_classes
    model.ignore_label = model.head.ignore_value = model.head.loss.ignore_label = ignore_label
    cfg.dataloader.train.total_batch_size = 2
    cfg.dataloader.train.num_workers = cfg.dataloader.test.num_workers = 0
    for aug in cfg.dataloader.train.mapper.augmentations:
        for key, value in (("crop_size", (32, 32)), ("size", (32, 32)), ("base_scale", (256, 48))):
            if key in aug:
                aug[key] = value
    cfg.dataloader.test.mapper.augmentations[0].base_scale = (256, 48)
    return cfg, model


@pytest.mark.parametrize("cfg_name,ignore", [("ade20k", 255), ("cityscapes", 255), ("pascal_context_59", 255),
                                             ("pascal_context_459", 65535)])
@pytest.mark.slow
def test_config_loaders_and_one_iteration(datasets, cfg_name, ignore):
    cfg, model_cfg = _tiny(cfg_name, ignore)
    torch.manual_seed(0)
    model = instantiate(model_cfg)
    batch = next(iter(instantiate(cfg.dataloader.train)))
    assert batch[0]["image"].shape[-2:] == (32, 32) and batch[0]["sem_seg"].shape == (32, 32)
    values = set(torch.cat([b["sem_seg"].flatten() for b in batch]).tolist())
    assert values <= set(range(model_cfg.num_classes)) | {ignore}
    with EventStorage():
        losses = model(batch)
        total = sum(losses.values())
        assert torch.isfinite(total)
        total.backward()
    sample = next(iter(instantiate(cfg.dataloader.test)))[0]
    assert sample["sem_seg"].shape == (48, 64)  # ground truth at the original size
    cfg.dataloader.evaluator.output_dir = None
    assert instantiate(cfg.dataloader.evaluator).num_classes == model_cfg.num_classes


def _one_hot(pred, k):
    return torch.nn.functional.one_hot(torch.as_tensor(pred), k).permute(2, 0, 1).float()


@pytest.mark.parametrize("fmt,name,k", [("cityscapes", "cityscapes_fine_sem_seg_test", 19),
                                        ("ade20k", "ade20k_sem_seg_val", 150)])
def test_submission_pngs(tmp_path, fmt, name, k):
    pred = np.array([[0, 1, 13], [18, 10, 5]])
    ev = SemSegEvaluator(name, output_dir=str(tmp_path), distributed=False, submission_format=fmt)
    ev.reset()
    inputs = [{"file_name": "/data/x/berlin_000000_000019_leftImg8bit.png"}]  # test set: no ground truth
    ev.process(inputs, [{"sem_seg": _one_hot(pred, k)}])
    written = Image.open(tmp_path / "submission" / "berlin_000000_000019_leftImg8bit.png")
    expected = [[7, 8, 26], [33, 23, 17]] if fmt == "cityscapes" else (pred + 1).tolist()
    assert written.mode == "L" and np.array(written).tolist() == expected
    assert not [f for f in os.listdir(tmp_path / "submission") if f.startswith(".tmp")]
    with pytest.raises(ValueError, match="submission_format"):
        SemSegEvaluator(name, output_dir=str(tmp_path), submission_format="kitti")


def test_browse_dataset(datasets, tmp_path):
    browse = _tool("browse_dataset")
    assert browse.main(["--dataset", "pascal_context_459_sem_seg_train", "--output", str(tmp_path / "a")]) == 0
    assert len(os.listdir(tmp_path / "a")) == 2
    cfg = str(ROOT / "configs" / "common" / "data" / "cityscapes.py")
    assert browse.main(["--config-file", cfg, "--source", "train", "--output", str(tmp_path / "b"), "--max", "1",
                        "dataloader.train.mapper.augmentations.1.crop_size=[32,32]",
                        "dataloader.train.mapper.augmentations.4.size=[32,32]"]) == 0
    (picture,) = os.listdir(tmp_path / "b")
    assert Image.open(tmp_path / "b" / picture).size == (32, 32)


def test_ade20k_test_release_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="release_test"):
        get_dataset_dicts("ade20k_sem_seg_test")
    folder = tmp_path / "ADEChallengeData2016" / "release_test" / "testing"
    folder.mkdir(parents=True)
    for i in (2, 1):
        Image.fromarray(np.full((6, 8, 3), 40 * i, np.uint8)).save(folder / f"ADE_test_0000000{i}.jpg")
    dicts = get_dataset_dicts("ade20k_sem_seg_test")
    assert [os.path.basename(d["file_name"]) for d in dicts] == ["ADE_test_00000001.jpg", "ADE_test_00000002.jpg"]
    assert all("sem_seg_file_name" not in d for d in dicts)
    sample = SemSegDatasetMapper(False, [], num_classes=150)(dicts[0])
    assert sample["image"].shape == (3, 6, 8) and "sem_seg" not in sample
    assert MetadataCatalog.get("ade20k_sem_seg_test").ignore_label == 255
