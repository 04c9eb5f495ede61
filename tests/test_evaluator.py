"""The evaluator against hand-computed confusion matrices and metrics."""
import json
import math

import numpy as np
import pytest
import torch
from detectron2.data import MetadataCatalog

import ctxseg  # noqa: F401
from ctxseg.evaluation import SemSegEvaluator, segmentation_metrics

NAME = "test_evaluator_dataset"
if NAME not in MetadataCatalog.list():
    MetadataCatalog.get(NAME).set(stuff_classes=["a", "b", "c", "d"], ignore_label=255)


def _scores(pred, k=4):
    return torch.nn.functional.one_hot(torch.as_tensor(pred), k).permute(2, 0, 1).float()


def test_hand_computed_matrix(tmp_path):
    gt = torch.tensor([[0, 0, 1, 1],
                       [0, 2, 255, 1]])
    pred = torch.tensor([[0, 1, 1, 1],
                         [0, 2, 3, 0]])
    ev = SemSegEvaluator(NAME, output_dir=str(tmp_path), distributed=False)
    ev.reset()
    ev.process([{"sem_seg": gt}], [{"sem_seg": _scores(pred)}])
    res = ev.evaluate()["sem_seg"]
    # rows gt, cols pred (ignored pixel excluded): class 0: 2 TP, 1 FN(->1); class 1: 2 TP, 1 FN(->0), 1 FP
    # class 2: 1 TP; class 3: absent from the ground truth, never predicted at a valid pixel -> NaN.
    expected = np.array([[2, 1, 0, 0], [1, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(ev._gathered_confusion()[:4, :4], expected)
    assert res["IoU-a"] == pytest.approx(100 * 2 / 4)
    assert res["IoU-b"] == pytest.approx(100 * 2 / 4)
    assert res["IoU-c"] == pytest.approx(100.0)
    assert math.isnan(res["IoU-d"]) and math.isnan(res["Acc-d"])
    assert res["mIoU"] == pytest.approx(100 * (0.5 + 0.5 + 1.0) / 3)
    assert res["Acc-a"] == pytest.approx(100 * 2 / 3)
    assert res["mAcc"] == pytest.approx(100 * (2 / 3 + 2 / 3 + 1) / 3)
    assert res["aAcc"] == pytest.approx(100 * 5 / 7)
    assert res["fwIoU"] == pytest.approx(100 * (3 / 7 * 0.5 + 3 / 7 * 0.5 + 1 / 7 * 1.0))
    saved = json.loads((tmp_path / "sem_seg_evaluation.json").read_text())
    assert saved["mIoU"] == pytest.approx(res["mIoU"])


def test_class_predicted_but_absent_from_ground_truth_counts_as_zero():
    # class 3 is predicted once but never in the ground truth: IoU 0 (counts), Acc NaN.
    res = segmentation_metrics(np.array([[3, 1], [0, 0]]), ["x", "y"])
    assert res["IoU-x"] == pytest.approx(75.0)
    assert res["IoU-y"] == 0.0
    assert math.isnan(res["Acc-y"])
    assert res["mIoU"] == pytest.approx(37.5)
    assert res["mAcc"] == pytest.approx(75.0)


def test_accumulates_over_images_and_rejects_bad_values():
    ev = SemSegEvaluator(NAME, distributed=False)
    ev.reset()
    for _ in range(3):
        labels = torch.zeros(2, 2, dtype=torch.long)
        ev.process([{"sem_seg": labels}], [{"sem_seg": _scores(labels)}])
    assert ev._gathered_confusion()[0, 0] == 12
    with pytest.raises(ValueError, match="neither a class"):
        ev.add(torch.zeros(2, 2, dtype=torch.long), torch.full((2, 2), 7))
    with pytest.raises(ValueError, match="differs from the ground truth"):
        ev.add(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 2, dtype=torch.long))


def test_only_ignored_pixels_gives_nan_without_crash():
    ev = SemSegEvaluator(NAME, distributed=False)
    ev.reset()
    ev.process([{"sem_seg": torch.full((2, 2), 255)}], [{"sem_seg": _scores(torch.zeros(2, 2, dtype=torch.long))}])
    assert math.isnan(ev.evaluate()["sem_seg"]["mIoU"])
