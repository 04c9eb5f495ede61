"""Plots written as PNG files: training curves from ``metrics.json`` and a row-normalised confusion matrix.

Figures are drawn with matplotlib's object API on an Agg canvas (no global backend, no display needed).
"""
import io
import json
import math
import os

import numpy as np

from ..utils import atomic_write
from ..utils.errors import DataError

__all__ = ["read_metrics", "plot_metrics", "plot_confusion"]


def read_metrics(path):
    """``{name: (iterations, values)}`` of every number in a Detectron2 ``metrics.json`` (one JSON per line).

    A resumed run may log an iteration twice; the later value is kept.
    """
    if not os.path.isfile(path):
        raise DataError(f"no metrics file: {path} (training writes it into its output dir)")
    series = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}, line {number}: not JSON ({e})") from None
            iteration = record.get("iteration")
            if iteration is None:
                continue
            for name, value in record.items():
                if name != "iteration" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    series.setdefault(name, {})[int(iteration)] = float(value)
    return {name: (np.array(sorted(points)), np.array([points[i] for i in sorted(points)]))
            for name, points in series.items()}


def _save(figure, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    with atomic_write(path) as f:
        f.write(buffer.getvalue())
    return path


def plot_metrics(metrics_path, output_path):
    """Losses, learning rate and evaluation scores (mIoU, mAcc, aAcc) over iterations, as one PNG."""
    from matplotlib.figure import Figure

    series = read_metrics(metrics_path)
    losses = sorted(n for n in series if n == "total_loss" or n.startswith("loss"))
    scores = [n for n in ("sem_seg/mIoU", "sem_seg/mAcc", "sem_seg/aAcc") if n in series]
    if not losses and "lr" not in series and not scores:
        raise DataError(f"{metrics_path} holds no loss, learning rate or evaluation score to plot")
    figure = Figure(figsize=(8, 9))
    panels = figure.subplots(3, 1, sharex=True)
    for axis, names, title in ((panels[0], losses, "loss"), (panels[1], ["lr"] if "lr" in series else [], "lr"),
                               (panels[2], scores, "evaluation (%)")):
        for name in names:
            iterations, values = series[name]
            axis.plot(iterations, values, marker="o" if len(values) < 20 else None, label=name.split("/")[-1])
        if names:
            axis.legend(loc="best", fontsize="small")
        else:
            axis.text(0.5, 0.5, f"no {title} values in metrics.json", ha="center", va="center",
                      transform=axis.transAxes)
        axis.set_ylabel(title)
        axis.grid(alpha=0.3)
    panels[2].set_xlabel("iteration")
    figure.suptitle(os.path.dirname(os.path.abspath(metrics_path)), fontsize="small")
    figure.tight_layout()
    return _save(figure, output_path)


def plot_confusion(confusion, class_names, output_path):
    """The (K, K) confusion matrix (rows: ground truth, columns: prediction) normalised per row, as a PNG.

    Each row shows where the pixels of one ground-truth class went (a row without pixels is grey).
    """
    import matplotlib
    from matplotlib.figure import Figure

    confusion = np.asarray(confusion, dtype=np.float64)
    k = confusion.shape[0]
    totals = confusion.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = np.where(totals > 0, confusion / totals, np.nan)
    side = max(5.0, 0.32 * k + 2.5)
    figure = Figure(figsize=(side + 1.2, side))
    axis = figure.subplots()
    colormap = matplotlib.colormaps["Blues"].with_extremes(bad="0.85")  # a class without pixels: grey, not 0
    image = axis.imshow(rates, vmin=0, vmax=1, cmap=colormap)
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="fraction of the row's pixels")
    font = max(4.0, min(9.0, 300.0 / max(k, 1)))
    axis.set_xticks(range(k), class_names, rotation=90, fontsize=font)
    axis.set_yticks(range(k), class_names, fontsize=font)
    axis.set_xlabel("prediction")
    axis.set_ylabel("ground truth")
    if k <= 25:
        for i in range(k):
            for j in range(k):
                if not math.isnan(rates[i, j]) and rates[i, j] >= 0.005:
                    axis.text(j, i, f"{rates[i, j]:.2f}", ha="center", va="center", fontsize=font * 0.9,
                              color="white" if rates[i, j] > 0.5 else "black")
    axis.set_title("confusion matrix (each row sums to 1)")
    figure.tight_layout()
    return _save(figure, output_path)
