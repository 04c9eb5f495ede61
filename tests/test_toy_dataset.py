"""The toy dataset generator, its catalog entries and the shared dataset plumbing."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from detectron2.data import MetadataCatalog
from PIL import Image

import ctxseg  # noqa: F401  (registers the datasets)
from ctxseg.data import SemSegDatasetMapper, get_dataset_dicts
from ctxseg.data.datasets import load_sem_seg_pairs
from ctxseg.data.datasets.toy import TOY_CLASSES, TOY_COLORS
from ctxseg.utils.errors import DataError

TOOL = Path(__file__).resolve().parents[1] / "tools" / "make_toy_dataset.py"
SMALL = dict(train=6, val=2, size=(64, 80), seed=0)


@pytest.fixture(scope="module")
def tool():
    from ctxseg.data.datasets import toy_generator

    return toy_generator


def _files(root):
    return sorted(p.relative_to(root) for p in Path(root).rglob("*") if p.is_file())


def _same_bytes(a, b):
    return Path(a).read_bytes() == Path(b).read_bytes()


def test_layout_and_label_values(tool, tmp_path):
    out = tmp_path / "toy"
    assert tool.generate(out, **SMALL)
    for split, count in (("training", 6), ("validation", 2)):
        names = sorted(os.listdir(out / "images" / split))
        assert names == [f"toy_{i:05d}.png" for i in range(count)]
        assert sorted(os.listdir(out / "annotations" / split)) == names
    assert json.loads((out / "toy_dataset.json").read_text())["size"] == [64, 80]

    values = set()
    for name in os.listdir(out / "annotations" / "training"):
        label_image = Image.open(out / "annotations" / "training" / name)
        assert label_image.mode == "L" and label_image.size == (80, 64)
        values |= set(np.unique(np.array(label_image)).tolist())
        image = Image.open(out / "images" / "training" / name)
        assert image.mode == "RGB" and image.size == (80, 64)
    assert values <= set(range(8))
    assert {0, 1} <= values and len(values - {0, 1}) >= 2  # band, background and objects


def test_class_names_match_the_generator(tool):
    assert tuple(TOY_CLASSES[1:]) == tool.TEXTURES and TOY_CLASSES[0] == "background"
    assert len(TOY_COLORS) == len(TOY_CLASSES)


def test_textures_do_not_depend_on_colour(tool):
    # Two samples of one class get different colours: colour alone cannot tell the class.
    colours = {}
    for index in range(20):
        image, label = tool.make_sample(tool.sample_rng(0, "training", index), 64, 80)
        for class_id in np.unique(label[label >= 2]):
            colours.setdefault(class_id, set()).add(tuple(image[label == class_id][0]))
    assert all(len(c) > 1 for c in colours.values() if c)


def test_band_is_one_pixel_wide(tool):
    _, label = tool.make_sample(tool.sample_rng(0, "training", 3), 64, 80)
    band = label == 0
    assert band.any()
    # A one-pixel band has no 2x2 block entirely inside it.
    assert not np.any(band[:-1, :-1] & band[1:, :-1] & band[:-1, 1:] & band[1:, 1:])


def test_generator_is_deterministic(tool, tmp_path):
    tool.generate(tmp_path / "a", **SMALL)
    tool.generate(tmp_path / "b", **SMALL)
    tool.generate(tmp_path / "c", **dict(SMALL, seed=1))
    files = _files(tmp_path / "a")
    assert files == _files(tmp_path / "b")
    assert all(_same_bytes(tmp_path / "a" / f, tmp_path / "b" / f) for f in files)
    image = Path("images/training/toy_00000.png")
    assert (tmp_path / "a" / image).read_bytes() != (tmp_path / "c" / image).read_bytes()


@pytest.mark.slow
def test_command_line_with_two_workers_gives_the_same_bytes(tool, tmp_path):
    tool.generate(tmp_path / "inproc", **SMALL)
    cmd = [sys.executable, str(TOOL), "--out", str(tmp_path / "cli"), "--train", "6", "--val", "2"]
    cmd += ["--size", "64", "80", "--seed", "0", "--workers", "2"]
    subprocess.run(cmd, check=True, capture_output=True)
    files = _files(tmp_path / "inproc")
    assert files == _files(tmp_path / "cli")
    assert all(_same_bytes(tmp_path / "inproc" / f, tmp_path / "cli" / f) for f in files)
    again = subprocess.run(cmd, check=True, capture_output=True, text=True)
    assert "nothing to do" in again.stdout


def test_same_parameters_do_nothing_and_others_need_overwrite(tool, tmp_path):
    out = tmp_path / "toy"
    assert tool.generate(out, **SMALL)
    stamp = (out / "images/training/toy_00000.png").stat().st_mtime_ns
    assert not tool.generate(out, **SMALL)
    assert (out / "images/training/toy_00000.png").stat().st_mtime_ns == stamp
    with pytest.raises(DataError, match="--overwrite"):
        tool.generate(out, **dict(SMALL, train=3))
    assert tool.generate(out, **dict(SMALL, train=3), overwrite=True)
    assert len(os.listdir(out / "images" / "training")) == 3
    assert sorted(os.listdir(tmp_path)) == ["toy"]  # no temporary folder left


@pytest.mark.parametrize("marker", [None, "not json", '{"a": 1}'])
@pytest.mark.slow
def test_overwrite_never_deletes_a_folder_the_generator_did_not_make(tool, tmp_path, marker):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"precious")
    if marker is not None:
        (out / "toy_dataset.json").write_text(marker)
    with pytest.raises(DataError, match="not made by this generator"):
        tool.generate(out, **SMALL, overwrite=True)
    assert (out / "holiday.jpg").read_bytes() == b"precious"
    result = subprocess.run([sys.executable, str(TOOL), "--output", str(out), "--overwrite", "--train", "2",
                             "--val", "1"], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "refusing to replace it" in result.stderr
    assert (out / "holiday.jpg").read_bytes() == b"precious"


def test_interrupted_generation_leaves_nothing(tool, tmp_path, monkeypatch):
    calls = []
    real = tool.make_sample

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(tool, "make_sample", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tool.generate(tmp_path / "toy", **SMALL)
    assert os.listdir(tmp_path) == []


def test_catalog_loads_the_generated_files(tool, tmp_path, monkeypatch):
    tool.generate(tmp_path / "toy", **SMALL)
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    dicts = get_dataset_dicts("toy_sem_seg_train")
    assert len(dicts) == 6 and len(get_dataset_dicts("toy_sem_seg_val")) == 2
    assert dicts[0]["file_name"] == str(tmp_path / "toy/images/training/toy_00000.png")
    assert dicts[0]["sem_seg_file_name"] == str(tmp_path / "toy/annotations/training/toy_00000.png")
    assert all(d["reduce_zero_label"] for d in dicts)

    metadata = MetadataCatalog.get("toy_sem_seg_train")
    assert metadata.stuff_classes == TOY_CLASSES and metadata.ignore_label == 255
    assert metadata.evaluator_type == "sem_seg"
    assert metadata.image_root == str(tmp_path / "toy/images/training")

    mapper = SemSegDatasetMapper(False, [], num_classes=len(TOY_CLASSES))
    for d in dicts:
        out = mapper(d)
        stored = np.array(Image.open(d["sem_seg_file_name"])).astype(np.int64)
        expected = np.where(stored == 0, 255, stored - 1)
        np.testing.assert_array_equal(out["sem_seg"].numpy(), expected)
        assert set(out["sem_seg"].unique().tolist()) <= set(range(7)) | {255}


def test_missing_toy_folder_names_the_path_and_the_tool(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError) as info:
        get_dataset_dicts("toy_sem_seg_val")
    message = str(info.value)
    assert str(tmp_path / "nowhere" / "toy" / "images" / "validation") in message
    assert "python tools/make_toy_dataset.py --out datasets/toy" in message


def test_unknown_dataset_lists_the_ctxseg_names():
    with pytest.raises(KeyError) as info:
        get_dataset_dicts("toy_sem_seg_trian")
    message = str(info.value)
    assert "toy_sem_seg_trian" in message and "toy_sem_seg_train" in message


def test_image_without_label_is_reported(tmp_path):
    (tmp_path / "img" / "sub").mkdir(parents=True)
    (tmp_path / "ann" / "sub").mkdir(parents=True)
    for name in ("a", "b"):
        (tmp_path / "img" / "sub" / f"{name}.jpg").write_bytes(b"")
    (tmp_path / "ann" / "sub" / "a.png").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"1 of 2 images.*b\.png.*prepare_me"):
        load_sem_seg_pairs(
            tmp_path / "img", tmp_path / "ann", ".jpg", ".png", prepare_hint="prepare_me"
        )
    (tmp_path / "ann" / "sub" / "b.png").write_bytes(b"")
    dicts = load_sem_seg_pairs(str(tmp_path / "img"), str(tmp_path / "ann"), ".jpg", ".png")
    assert [os.path.basename(d["sem_seg_file_name"]) for d in dicts] == ["a.png", "b.png"]
    assert not dicts[0]["reduce_zero_label"]


def test_label_without_image_is_an_error_unless_partial_loads_are_allowed(tool, tmp_path, monkeypatch, caplog):
    tool.generate(tmp_path / "toy", **SMALL)
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    for name in ("toy_00001.png", "toy_00004.png"):
        os.remove(tmp_path / "toy" / "images" / "training" / name)
    with pytest.raises(DataError, match=r"2 of 6 label files under .*training have no image \(expected "
                                        r".*images/training/toy_00001.png, .*toy_00004.png\)") as info:
        get_dataset_dicts("toy_sem_seg_train")
    assert "allow_partial=True" in str(info.value)
    with caplog.at_level("WARNING"):
        dicts = get_dataset_dicts("toy_sem_seg_train", allow_partial=True)
    assert [os.path.basename(d["file_name"]) for d in dicts] == ["toy_00000.png", "toy_00002.png", "toy_00003.png",
                                                                  "toy_00005.png"]
    assert "2 of 6 label files" in caplog.text and "allow_partial" in caplog.text
    os.remove(tmp_path / "toy" / "annotations" / "validation" / "toy_00000.png")
    with pytest.raises(DataError, match=r"1 of 2 images under .*validation have no label file"):
        get_dataset_dicts("toy_sem_seg_val")
    assert len(get_dataset_dicts("toy_sem_seg_val", allow_partial=True)) == 1
    with pytest.raises(DataError):  # the permission does not outlive the call
        get_dataset_dicts("toy_sem_seg_train")


def test_partial_dataset_through_a_config(tool, tmp_path, monkeypatch):
    from ctxseg.config import load_config

    from .conftest import TINY_TOY_CONFIG

    tool.generate(tmp_path / "toy", **SMALL)
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    os.remove(tmp_path / "toy" / "images" / "training" / "toy_00002.png")
    cfg = load_config(TINY_TOY_CONFIG, ["dataloader.train.dataset.allow_partial=True"])
    from detectron2.config import instantiate

    assert len(instantiate(cfg.dataloader.train.dataset)) == 5
