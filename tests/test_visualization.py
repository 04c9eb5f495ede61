"""Pictures and plots: overlay, legend (classes present, no overlap), display size, curves, confusion matrix."""
import json

import numpy as np
import pytest
from PIL import Image

import ctxseg  # noqa: F401
from ctxseg.evaluation import SemSegEvaluator
from ctxseg.utils.errors import DataError
from ctxseg.visualization import (
    PANEL_GAP,
    display_size,
    draw_legend,
    legend_layout,
    overlay,
    plot_confusion,
    plot_metrics,
    prediction_picture,
    read_metrics,
)
from ctxseg_cli import plot_metrics as plot_tool

PALETTE = [(10, 20, 30), (200, 0, 0), (0, 200, 0), (0, 0, 200), (250, 250, 0)]
NAMES = ["background", "a rather long class name", "b", "c", "d"]


def _overlaps(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


@pytest.mark.parametrize("count, height", [(5, 400), (40, 200), (150, 300)])
def test_legend_entries_never_overlap(count, height):
    names = [f"class number {i}" * (1 + i % 3) for i in range(count)]
    width, boxes = legend_layout(names, height)
    assert len(boxes) == count
    for i, box in enumerate(boxes):
        x, y, w, h = box
        assert 0 <= x and x + w <= width and 0 <= y and y + h <= height
        assert not any(_overlaps(box, other) for other in boxes[i + 1:])


def test_legend_shows_each_class_present_with_its_colour():
    panel = draw_legend([1, 3], NAMES, PALETTE, height=120)
    colours = {tuple(c) for c in panel.reshape(-1, 3)}
    assert PALETTE[1] in colours and PALETTE[3] in colours
    assert PALETTE[0] not in colours and PALETTE[2] not in colours
    wide = draw_legend([1], NAMES, PALETTE, height=120)
    narrow = draw_legend([2], NAMES, PALETTE, height=120)
    assert wide.shape[1] > narrow.shape[1]  # the panel is as wide as the names it shows


def test_picture_lists_the_classes_of_prediction_and_ground_truth():
    image = np.full((20, 30, 3), 100, np.uint8)
    prediction = np.zeros((20, 30), np.uint8)
    prediction[:, 20:] = 1
    truth = np.full((20, 30), 255, np.int64)
    truth[:5, :5] = 4
    picture = prediction_picture(image, prediction, NAMES, PALETTE, truth, alpha=0.5)
    size = display_size(20, 30)
    assert size == (20 * 17, 30 * 17) and picture.shape[0] == size[0]
    legend = picture[:, 3 * (size[1] + PANEL_GAP):]
    colours = {tuple(c) for c in legend.reshape(-1, 3)}
    assert {PALETTE[0], PALETTE[1], PALETTE[4]} <= colours and PALETTE[2] not in colours
    truth_panel = picture[:, 2 * (size[1] + PANEL_GAP):3 * size[1] + 2 * PANEL_GAP]
    assert (truth_panel[-1, -1] == 100).all()  # ignored pixels are not coloured
    np.testing.assert_array_equal(overlay(image, prediction, PALETTE, 0.5)[0, 25], [150, 50, 50])


def test_display_size_bounds_large_and_small_images():
    assert display_size(8000, 6000) == (1600, 1200)
    assert display_size(64, 80) == (384, 480)
    assert display_size(600, 800) == (600, 800)


def _metrics_file(path):
    lines = [{"iteration": i, "total_loss": 2.0 / (i + 1), "loss_sem_seg": 1.9 / (i + 1), "lr": 1e-3 * (1 - i / 40)}
             for i in range(0, 40, 5)]
    lines.append({"iteration": 19, "sem_seg/mIoU": 31.5, "sem_seg/mAcc": 40.0, "sem_seg/aAcc": 70.0})
    lines.append({"iteration": 39, "sem_seg/mIoU": 45.0, "sem_seg/mAcc": 52.0, "sem_seg/aAcc": 80.0})
    lines.append({"iteration": 35, "total_loss": 0.01})  # a resumed run logs iteration 35 again: the later wins
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def test_metrics_are_read_and_plotted(tmp_path):
    metrics = _metrics_file(tmp_path / "metrics.json")
    series = read_metrics(str(metrics))
    iterations, values = series["sem_seg/mIoU"]
    assert list(iterations) == [19, 39] and list(values) == [31.5, 45.0]
    assert series["total_loss"][1][-1] == 0.01
    assert plot_tool.main([str(tmp_path)]) == 0
    picture = Image.open(tmp_path / "metrics.png")
    assert picture.size == (800, 900)
    assert len(np.unique(np.asarray(picture.convert("RGB")).reshape(-1, 3), axis=0)) > 20  # something is drawn


def test_plot_errors(tmp_path, capsys):
    assert plot_tool.main([str(tmp_path)]) == 2
    assert "no metrics file" in capsys.readouterr().err
    (tmp_path / "metrics.json").write_text('{"iteration": 1, "time": 0.5}\n')
    with pytest.raises(DataError, match="no loss, learning rate or evaluation score"):
        plot_metrics(str(tmp_path / "metrics.json"), str(tmp_path / "m.png"))


def test_confusion_matrix_png_is_row_normalised(tmp_path):
    confusion = np.array([[8, 2, 0], [0, 0, 0], [1, 1, 2]])
    plot_confusion(confusion, ["sky", "road", "car"], str(tmp_path / "c.png"))
    assert Image.open(tmp_path / "c.png").size[0] > 300


def test_evaluator_writes_the_confusion_png(toy_root, tmp_path, monkeypatch):
    import torch

    monkeypatch.setenv("DETECTRON2_DATASETS", toy_root)
    evaluator = SemSegEvaluator("toy_sem_seg_val", output_dir=str(tmp_path), distributed=False)
    evaluator.reset()
    truth = torch.randint(0, 7, (16, 20))
    scores = torch.nn.functional.one_hot(truth, 7).permute(2, 0, 1).float()
    evaluator.process([{"sem_seg": truth, "file_name": "unused.png"}], [{"sem_seg": scores}])
    assert evaluator.evaluate()["sem_seg"]["mIoU"] == 100.0
    assert Image.open(tmp_path / "sem_seg_confusion.png").size[0] > 300


def test_evaluation_inside_a_training_run_logs_pictures(toy_root, monkeypatch):
    import os

    import torch
    from detectron2.utils.events import EventStorage

    monkeypatch.setenv("DETECTRON2_DATASETS", toy_root)
    folder = os.path.join(toy_root, "toy", "images", "validation")
    files = [os.path.join(folder, f) for f in sorted(os.listdir(folder))]
    with EventStorage(7) as storage:
        evaluator = SemSegEvaluator("toy_sem_seg_val", distributed=False, num_images=2)
        evaluator.reset()
        for name in files:
            truth = torch.randint(0, 7, (64, 80))
            evaluator.process([{"sem_seg": truth, "file_name": name}], [{"sem_seg": torch.rand(7, 64, 80)}])
        evaluator.evaluate()
    assert [n for n, _, _ in storage._vis_data] == [f"predictions/{i}_{os.path.basename(f)}"
                                                     for i, f in enumerate(files[:2])]
    _, picture, iteration = storage._vis_data[0]
    assert iteration == 7 and picture.shape[0] == 3 and picture.dtype == np.uint8 and picture.shape[1] == 3 * 64
