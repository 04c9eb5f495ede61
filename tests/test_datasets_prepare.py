"""The preparation tools on fixture trees: values written, idempotence, bad inputs named, counts checked."""
import importlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ctxseg  # noqa: F401
from ctxseg.data.datasets.pascal_context import CONTEXT59_CLASSES

from .dataset_trees import H, W, ade_label, context459_label, make_ade, make_cityscapes, make_pascal_context, snapshot


def _tool(name):
    return importlib.import_module(f"ctxseg_cli.{name}")


@pytest.fixture(scope="module")
def ade_tool():
    return _tool("prepare_ade20k")


@pytest.fixture(scope="module")
def cityscapes_tool():
    return _tool("prepare_cityscapes")


@pytest.fixture(scope="module")
def context_tool():
    return _tool("prepare_pascal_context")


def _read(path):
    with Image.open(path) as image:
        return np.array(image)


def test_ade20k_values_and_idempotence(ade_tool, tmp_path):
    base = make_ade(tmp_path)
    assert ade_tool.main(["--root", base, "--allow-partial", "--workers", "2"]) == 0
    for split in ("training", "validation"):
        for i in range(2):
            out = _read(os.path.join(base, "annotations_detectron2", split, f"ADE_{split[:5]}_{i:08d}.png"))
            raw = ade_label(i).astype(int)
            assert out.dtype == np.uint8
            np.testing.assert_array_equal(out, np.where(raw == 0, 255, raw - 1))
    assert set(np.unique(out).tolist()) == {255, 0, 149, 5}
    before = snapshot(base)
    assert ade_tool.main(["--root", base, "--allow-partial", "--workers", "1"]) == 0
    assert snapshot(base) == before


def test_ade20k_counts_checked(ade_tool, tmp_path, capsys):
    base = make_ade(tmp_path)
    assert ade_tool.main(["--root", base]) == 2
    err = capsys.readouterr().err
    assert "found 2 files, the official release has 20210" in err and "--allow-partial" in err
    assert not os.path.exists(os.path.join(base, "annotations_detectron2"))


def test_ade20k_truncated_and_missing_inputs_named(ade_tool, tmp_path, capsys):
    base = make_ade(tmp_path)
    bad = os.path.join(base, "annotations", "training", "ADE_train_00000001.png")
    data = Path(bad).read_bytes()
    Path(bad).write_bytes(data[: len(data) // 2])
    assert ade_tool.main(["--root", base, "--allow-partial", "--workers", "1"]) == 1
    out = capsys.readouterr().out
    assert bad in out and "1 error" in out
    out_dir = os.path.join(base, "annotations_detectron2", "training")
    assert sorted(os.listdir(out_dir)) == ["ADE_train_00000000.png"]  # no partial file, no temp file left

    os.remove(bad)
    assert ade_tool.main(["--root", base, "--allow-partial"]) == 2
    assert "ADE_train_00000001.png" in capsys.readouterr().err


def test_cityscapes_train_ids(cityscapes_tool, tmp_path):
    base = make_cityscapes(tmp_path)
    assert cityscapes_tool.main(["--root", base, "--coarse", "--allow-partial", "--workers", "2"]) == 0
    for annotations, split in (("gtFine", "train"), ("gtFine", "val"), ("gtFine", "test"), ("gtCoarse", "train_extra")):
        path = os.path.join(base, annotations, split, "aachen", f"aachen_000000_000019_{annotations}_labelTrainIds.png")
        label = _read(path)
        assert label.shape == (H, W) and label.dtype == np.uint8
        assert (label[:9] == 10).all()  # sky: id 23 -> trainId 10
        assert (label[31:, :5] == 0).all()  # road: id 7 -> 0
        assert (label[35:44, 11:30] == 13).all()  # cargroup drawn as car: 26 -> 13
        assert (label[41:47, 41:60] == 255).all()  # ego vehicle: trainId 255
        assert (label[12:29] == 255).all()  # unlabelled, and the deleted person is not drawn
        assert set(np.unique(label).tolist()) == {0, 10, 13, 255}
    before = snapshot(base)
    assert cityscapes_tool.main(["--root", base, "--coarse", "--allow-partial"]) == 0
    assert snapshot(base) == before


def test_cityscapes_bad_json_named(cityscapes_tool, tmp_path, capsys):
    base = make_cityscapes(tmp_path)
    bad = os.path.join(base, "gtFine", "val", "aachen", "aachen_000000_000019_gtFine_polygons.json")
    text = Path(bad).read_text()
    Path(bad).write_text(text[: len(text) // 2])
    assert cityscapes_tool.main(["--root", base, "--allow-partial"]) == 1
    out = capsys.readouterr().out
    assert bad in out
    assert not [f for f in os.listdir(os.path.dirname(bad)) if f.endswith(".png") or f.startswith(".tmp")]

    with open(bad, "w") as f:
        dragon = {"label": "dragon", "polygon": [[0, 0], [5, 5], [0, 5]]}
        json.dump({"imgHeight": H, "imgWidth": W, "objects": [dragon]}, f)
    assert cityscapes_tool.main(["--root", base, "--allow-partial"]) == 1
    assert "dragon" in capsys.readouterr().out
    assert cityscapes_tool.main(["--root", base]) == 2
    assert "the official release has 2975" in capsys.readouterr().err


def test_pascal_context_59_and_459(context_tool, tmp_path):
    base = make_pascal_context(tmp_path)
    assert context_tool.main(["--root", base, "--allow-partial", "--workers", "2"]) == 0
    splits = {"2008_000000": "training", "2008_000001": "training", "2008_000002": "validation"}
    for i, (stem, split) in enumerate(splits.items()):
        raw = context459_label(i).astype(int)
        ctx59 = _read(os.path.join(base, "annotations_ctx59", split, stem + ".png"))
        assert ctx59.dtype == np.uint8
        expected = np.full((H, W), 255)
        for k, name in ((2, "aeroplane"), (458, "wood"), (284, "person")):
            expected[raw == k] = CONTEXT59_CLASSES.index(name)
        np.testing.assert_array_equal(ctx59, expected)  # background, accordion, wool -> 255
        assert ctx59[0, 0] == (0 if i == 1 else 255) and ctx59[5, 5] == 0 and ctx59[15, 5] == 255
        assert ctx59[25, 5] == 58 and ctx59[40, 40] == 36

        ctx459 = _read(os.path.join(base, "annotations_ctx459", split, stem + ".tif"))
        assert ctx459.dtype == np.uint16
        np.testing.assert_array_equal(ctx459, np.where(raw == 0, 65535, raw - 1))
    assert not os.path.exists(os.path.join(base, "annotations_ctx59", "validation", "2008_000000.png"))
    before = snapshot(base)
    assert context_tool.main(["--root", base, "--allow-partial"]) == 0
    assert snapshot(base) == before


def test_pascal_context_bad_inputs_named(context_tool, tmp_path, capsys):
    base = make_pascal_context(tmp_path)
    assert context_tool.main(["--root", base]) == 2
    assert "the official release has 4996" in capsys.readouterr().err

    mat = os.path.join(base, "trainval", "2008_000001.mat")
    data = Path(mat).read_bytes()
    Path(mat).write_bytes(data[: len(data) // 3])
    assert context_tool.main(["--root", base, "--allow-partial", "--only", "459"]) == 1
    assert mat in capsys.readouterr().out
    assert not os.path.exists(os.path.join(base, "annotations_ctx459", "training", "2008_000001.tif"))
    assert os.path.exists(os.path.join(base, "annotations_ctx459", "training", "2008_000000.tif"))
    os.remove(mat)
    assert context_tool.main(["--root", base, "--allow-partial", "--only", "459"]) == 1
    assert f"Missing input file: {mat}" in capsys.readouterr().out

    merged = os.path.join(base, "trainval_merged.json")
    text = Path(merged).read_text()
    Path(merged).write_text(text[:100])
    assert context_tool.main(["--root", base, "--allow-partial"]) == 2
    assert merged in capsys.readouterr().err
    assert not os.path.exists(os.path.join(base, "annotations_ctx59"))


@pytest.mark.parametrize("bad_name", ["/tmp/ctxseg_escape.jpg", "../../escape.jpg", "a/../../../escape.jpg", ""])
def test_pascal_context_refuses_names_that_leave_the_root(context_tool, tmp_path, capsys, bad_name):
    base = make_pascal_context(tmp_path / "data")
    merged = os.path.join(base, "trainval_merged.json")
    with open(merged) as f:
        data = json.load(f)
    data["images"][1]["file_name"] = bad_name
    with open(merged, "w") as f:
        json.dump(data, f)
    before = snapshot(tmp_path)
    assert context_tool.main(["--root", base, "--allow-partial"]) == 2
    err = capsys.readouterr().err
    assert merged in err and repr(bad_name) in err and "leaves the dataset folder" in err
    assert snapshot(tmp_path) == before  # nothing written, not even the valid images' labels
    assert not os.path.exists("/tmp/ctxseg_escape.png")


def test_no_tool_writes_through_a_symlink_out_of_the_root(ade_tool, cityscapes_tool, tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    base = make_ade(tmp_path / "ade")
    os.makedirs(os.path.join(base, "annotations_detectron2"))
    os.symlink(outside, os.path.join(base, "annotations_detectron2", "training"))
    assert ade_tool.main(["--root", base, "--allow-partial"]) == 2
    assert "outside the dataset root" in capsys.readouterr().err
    assert os.listdir(outside) == []

    base = make_cityscapes(tmp_path / "cs")
    target = os.path.join(base, "gtFine", "val", "aachen", "aachen_000000_000019_gtFine_labelTrainIds.png")
    os.symlink(outside / "stolen.png", target)
    assert cityscapes_tool.main(["--root", base, "--allow-partial"]) == 2
    assert "outside the dataset root" in capsys.readouterr().err
    assert os.listdir(outside) == []

    # a link that stays inside the root is fine
    base = make_ade(tmp_path / "ade2")
    real = os.path.join(base, "prepared")
    os.makedirs(real)
    os.symlink(real, os.path.join(base, "annotations_detectron2"))
    assert ade_tool.main(["--root", base, "--allow-partial"]) == 0
    assert sorted(os.listdir(os.path.join(real, "training"))) == ["ADE_train_00000000.png", "ADE_train_00000001.png"]
