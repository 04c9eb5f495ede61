"""The context toy: its generator's rule, the distance that keeps the rule out of a local view, the command
line and the catalog entries, and a small-receptive-field model that cannot see the rule."""
import json
import os

import cv2
import numpy as np
import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.data import DatasetCatalog, MetadataCatalog

from ctxseg.data.datasets import toy_generator as gen
from ctxseg.data.datasets.toy import TOY_CONTEXT_CLASSES
from ctxseg_cli.make_toy_dataset import main as make_toy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCAL_CONFIG = os.path.join(ROOT, "configs", "toy", "fpn_r18_local_context_toy.py")
SIZE = (128, 160)


def sample(index, marker=None):
    return gen.make_context_sample(gen.sample_rng(0, "training", index), *SIZE, marker=marker)


def distance_to(mask):
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


@pytest.mark.parametrize("index", range(12))
def test_every_object_takes_the_class_of_its_image_marker(index):
    image, label = sample(index)
    markers = [k for k, value in enumerate(gen.CONTEXT_MARKER_LABELS) if (label == value).any()]
    assert len(markers) == 1  # one marker, A or B
    kind = markers[0]
    objects = np.isin(label, gen.CONTEXT_OBJECT_LABELS)
    assert objects.any() and (label[objects] == gen.CONTEXT_OBJECT_LABELS[kind]).all()
    assert set(np.unique(label)) <= {gen.UNLABELLED, gen.BACKGROUND, gen.CONTEXT_MARKER_LABELS[kind],
                                     gen.CONTEXT_OBJECT_LABELS[kind]}
    # Far from the marker: the band of unlabelled pixels around the marker counts as the marker.
    marker = label == gen.CONTEXT_MARKER_LABELS[kind]
    marker |= cv2.dilate(marker.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & (label == 0)
    assert distance_to(marker)[objects].min() >= gen.CONTEXT_MIN_GAP - 1


def test_both_kinds_occur_about_equally():
    kinds = [int((sample(i)[1] == gen.CONTEXT_MARKER_LABELS[1]).any()) for i in range(40)]
    assert 10 < sum(kinds) < 30


@pytest.mark.parametrize("index", range(8))
def test_the_marker_changes_nothing_near_the_objects(index):
    """Same draws, other marker: the images differ only inside the marker disk, the labels only in class, so
    every window of half-width CONTEXT_MIN_GAP / sqrt(2) around an object pixel is the same in both."""
    (image_a, label_a), (image_b, label_b) = sample(index, marker=0), sample(index, marker=1)
    changed = (image_a != image_b).any(-1)
    marker = np.isin(label_a, gen.CONTEXT_MARKER_LABELS) | np.isin(label_b, gen.CONTEXT_MARKER_LABELS)
    marker |= cv2.dilate(marker.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & (label_a == 0)
    assert changed.any() and not (changed & ~marker).any()
    objects_a = label_a == gen.CONTEXT_OBJECT_LABELS[0]
    assert (objects_a == (label_b == gen.CONTEXT_OBJECT_LABELS[1])).all() and objects_a.any()
    half = int(gen.CONTEXT_MIN_GAP / np.sqrt(2))  # 39: the largest square window that never reaches the marker
    window = cv2.dilate(objects_a.astype(np.uint8), np.ones((2 * half - 1, 2 * half - 1), np.uint8)).astype(bool)
    assert not (window & changed).any()


def test_a_small_receptive_field_model_gives_both_kinds_the_same_prediction():
    """The baseline of fpn_r18_local_context_toy.py (random weights, any would do) sees 67 x 67 windows: on an
    object pixel its prediction is the same whatever the marker, so it cannot beat chance on A versus B."""
    torch.manual_seed(0)
    cfg = LazyConfig.load(LOCAL_CONFIG)
    model = instantiate(cfg.model).eval()
    for index in range(3):
        (image_a, label_a), (image_b, _) = sample(index, marker=0), sample(index, marker=1)
        with torch.no_grad():
            logits = [model.encode_decode(model.normalize(torch.from_numpy(im).permute(2, 0, 1))[None])[0]
                      for im in (image_a, image_b)]
        objects = torch.from_numpy(label_a == gen.CONTEXT_OBJECT_LABELS[0])
        assert not torch.allclose(logits[0], logits[1])  # the marker's own pixels differ
        torch.testing.assert_close(logits[0][:, objects], logits[1][:, objects], rtol=0, atol=1e-5)


def test_command_line_makes_the_registered_context_toy(tmp_path, monkeypatch):
    out = tmp_path / "toy_context"
    assert make_toy(["--kind", "context", "--output", str(out), "--train", "3", "--val", "2", "--workers", "1"]) == 0
    assert json.loads((out / gen.PARAMS_FILE).read_text())["kind"] == "context"
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    dicts = DatasetCatalog.get("toy_context_sem_seg_val")
    assert len(dicts) == 2 and dicts[0]["sem_seg_file_name"].startswith(str(out))
    assert MetadataCatalog.get("toy_context_sem_seg_val").stuff_classes == TOY_CONTEXT_CLASSES
    stored = cv2.imread(dicts[0]["sem_seg_file_name"], cv2.IMREAD_UNCHANGED)
    assert set(np.unique(stored)) <= set(range(len(TOY_CONTEXT_CLASSES) + 1))
    # The texture toy's parameters stay what they were (no "kind"), so existing toys remain valid.
    texture = tmp_path / "toy"
    assert make_toy(["--output", str(texture), "--train", "1", "--val", "1", "--workers", "1"]) == 0
    assert "kind" not in json.loads((texture / gen.PARAMS_FILE).read_text())
