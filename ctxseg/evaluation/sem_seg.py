"""Semantic-segmentation evaluator: a confusion matrix on the device, summed across processes.

Metrics follow MMSegmentation's (and current Detectron2's) rule: a class with neither ground-truth nor
predicted pixels is NaN and left out of the means; a class predicted but absent from the ground truth
has IoU 0 and counts.
"""
import json
import logging
import os
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.distributed as dist
from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm
from detectron2.utils.events import get_event_storage
from tabulate import tabulate

from ..data.datasets.palette import classes_and_palette
from ..utils import atomic_write
from ..visualization import plot_confusion, prediction_picture
from .submission import write_submission_png

__all__ = ["SemSegEvaluator", "segmentation_metrics"]

logger = logging.getLogger(__name__)


def segmentation_metrics(confusion: np.ndarray, class_names: Optional[Sequence[str]] = None) -> Dict[str, float]:
    """Metrics (×100) from a K×K confusion matrix (rows: ground truth, columns: prediction)."""
    confusion = np.asarray(confusion, dtype=np.float64)
    k = confusion.shape[0]
    class_names = class_names or [str(i) for i in range(k)]
    tp = np.diag(confusion)
    gt = confusion.sum(axis=1)
    pred = confusion.sum(axis=0)
    union = gt + pred - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        acc = np.where(gt > 0, tp / gt, np.nan)
    total = gt.sum()
    seen = ~np.isnan(iou)
    results = OrderedDict()
    results["mIoU"] = 100 * np.nanmean(iou) if seen.any() else float("nan")
    results["mAcc"] = 100 * np.nanmean(acc) if (~np.isnan(acc)).any() else float("nan")
    results["aAcc"] = 100 * tp.sum() / total if total > 0 else float("nan")
    results["fwIoU"] = 100 * np.nansum(gt / total * iou) if total > 0 else float("nan")
    for name, v in zip(class_names, iou):
        results[f"IoU-{name}"] = 100 * v
    for name, v in zip(class_names, acc):
        results[f"Acc-{name}"] = 100 * v
    return results


class SemSegEvaluator(DatasetEvaluator):
    """mIoU, mAcc, aAcc, fwIoU and a per-class table for a semantic-segmentation dataset.

    Ground truth comes from the inputs (``"sem_seg"``, the label at the original size as the ctxseg
    mapper provides it); predictions are ``outputs[i]["sem_seg"]`` (K, H, W) scores. The (K+1)×(K+1)
    confusion matrix lives on the device of the predictions; its last row holds the ignored pixels,
    which the metrics leave out.

    Args:
        dataset_name: a registered dataset (class names and ignore label come from its metadata).
        output_dir: where ``sem_seg_evaluation.json`` (and the optional files) are written.
        num_classes, ignore_label, class_names: override the metadata.
        save_confusion: also write ``sem_seg_confusion.npy`` (the PNG ``sem_seg_confusion.png``, row-normalised
            with the class names, is always written with the metrics).
        num_images: when evaluating inside a training run (a Detectron2 ``EventStorage`` exists), the pictures
            ``input | prediction | ground truth`` of the first this many images go to TensorBoard.
        submission_format: None, "cityscapes" (trainId -> labelId) or "ade20k" (class + 1): also write one
            PNG per input ``file_name`` in ``submission_dir`` (default ``output_dir/submission``); works on
            test sets without ground truth.
    """

    def __init__(self, dataset_name: str, output_dir: Optional[str] = None, num_classes: Optional[int] = None,
                 ignore_label: Optional[int] = None, class_names: Optional[Sequence[str]] = None,
                 save_confusion: bool = False, distributed: bool = True, submission_format: Optional[str] = None,
                 submission_dir: Optional[str] = None, num_images: int = 3):
        meta = MetadataCatalog.get(dataset_name)
        self.dataset_name = dataset_name
        self.class_names = list(class_names or meta.get("stuff_classes", []) or [])
        self.num_classes = num_classes or len(self.class_names)
        if not self.num_classes:
            raise ValueError(f"dataset '{dataset_name}' has no 'stuff_classes' metadata; pass num_classes")
        if not self.class_names:
            self.class_names = [str(i) for i in range(self.num_classes)]
        self.palette = classes_and_palette(dataset_name, self.num_classes)[1]
        self.num_images = num_images
        self.images = []
        self.ignore_label = ignore_label if ignore_label is not None else meta.get("ignore_label", 255)
        self.output_dir = output_dir
        self.save_confusion = save_confusion
        self.distributed = distributed
        self.confusion = None
        if submission_format not in (None, "cityscapes", "ade20k"):
            raise ValueError(f"submission_format must be None, 'cityscapes' or 'ade20k', got '{submission_format}'")
        if submission_format and not (submission_dir or output_dir):
            raise ValueError("submission_format needs submission_dir or output_dir")
        self.submission_format = submission_format
        self.submission_dir = submission_dir or (output_dir and os.path.join(output_dir, "submission"))

    def reset(self) -> None:
        """Start a new evaluation."""
        self.confusion = None
        self.images = []

    def process(self, inputs: List[Dict[str, Any]], outputs: List[Dict[str, torch.Tensor]]) -> None:
        """Accumulate one batch of predictions against the inputs' ground truth."""
        for sample, output in zip(inputs, outputs):
            prediction = output["sem_seg"].argmax(dim=0)
            if self.submission_format:
                write_submission_png(prediction, sample["file_name"], self.submission_dir, self.submission_format)
            if len(self.images) < self.num_images and "file_name" in sample:
                self.images.append((sample["file_name"], prediction.to("cpu", torch.uint8 if self.num_classes <= 256
                                                                        else torch.int32).numpy(),
                                    sample["sem_seg"].numpy() if "sem_seg" in sample else None))
            if "sem_seg" not in sample:
                continue
            self.add(prediction, sample["sem_seg"].to(prediction.device))

    def add(self, prediction: torch.Tensor, ground_truth: torch.Tensor) -> None:
        """Accumulate one (H, W) prediction against its (H, W) ground truth."""
        if prediction.shape != ground_truth.shape:
            raise ValueError(f"prediction size {tuple(prediction.shape)} differs from the ground truth "
                             f"size {tuple(ground_truth.shape)}")
        k = self.num_classes
        gt = ground_truth.long().flatten()
        bad = (gt != self.ignore_label) & ((gt < 0) | (gt >= k))
        if bad.any():
            raise ValueError(f"ground truth holds values {sorted(gt[bad].unique().tolist())[:10]} that are "
                             f"neither a class (0..{k - 1}) nor the ignore label {self.ignore_label}")
        gt = torch.where(gt == self.ignore_label, torch.full_like(gt, k), gt)
        index = gt * (k + 1) + prediction.long().flatten()
        counts = torch.bincount(index, minlength=(k + 1) ** 2).view(k + 1, k + 1)
        self.confusion = counts if self.confusion is None else self.confusion + counts

    def _gathered_confusion(self):
        k = self.num_classes
        confusion = self.confusion
        if confusion is None:
            confusion = torch.zeros((k + 1, k + 1), dtype=torch.int64)
        if self.distributed and comm.get_world_size() > 1:
            # gloo reduces CPU tensors, NCCL CUDA ones: the matrix stays where the predictions were.
            confusion = confusion.clone()
            dist.all_reduce(confusion)
        return confusion.cpu().numpy()

    def evaluate(self) -> Optional[Dict[str, Dict[str, float]]]:
        """Metrics (×100) as ``{"sem_seg": {...}}`` on the main process; also logged and saved."""
        confusion = self._gathered_confusion()
        if not comm.is_main_process():
            return None
        k = self.num_classes
        if confusion[:k, :k].sum() == 0:
            logger.warning("SemSegEvaluator: no ground-truth pixel was seen; metrics are NaN")
        metrics = segmentation_metrics(confusion[:k, :k], self.class_names)
        logger.info("Evaluation of %s:\n%s", self.dataset_name, self.table(metrics))
        if self.output_dir:
            with atomic_write(os.path.join(self.output_dir, "sem_seg_evaluation.json"), "w") as f:
                json.dump(dict(metrics), f, indent=2)
            if self.save_confusion:
                with atomic_write(os.path.join(self.output_dir, "sem_seg_confusion.npy")) as f:
                    np.save(f, confusion)
            plot_confusion(confusion[:k, :k], self.class_names, os.path.join(self.output_dir, "sem_seg_confusion.png"))
        self._log_pictures()
        return OrderedDict(sem_seg=metrics)

    def _log_pictures(self):
        """Put the kept predictions into the training run's EventStorage (TensorBoard writes them)."""
        try:
            storage = get_event_storage()
        except AssertionError:  # not inside a training run: nothing to log into
            return
        from detectron2.data.detection_utils import read_image

        for index, (file_name, prediction, ground_truth) in enumerate(self.images):
            image = read_image(file_name, format="RGB")
            picture = prediction_picture(image, prediction, self.class_names, self.palette, ground_truth,
                                         ignore_label=self.ignore_label, min_side=256, max_side=768)
            storage.put_image(f"predictions/{index}_{os.path.basename(file_name)}", picture.transpose(2, 0, 1))

    def table(self, metrics: Dict[str, float]) -> str:
        """The per-class IoU/Acc table followed by the summary line, as text."""
        rows = [(name, f"{metrics[f'IoU-{name}']:.2f}", f"{metrics[f'Acc-{name}']:.2f}") for name in self.class_names]
        per_class = tabulate(rows, headers=["class", "IoU", "Acc"], tablefmt="pipe")
        summary = tabulate([[f"{metrics[m]:.2f}" for m in ("mIoU", "mAcc", "aAcc", "fwIoU")]],
                           headers=["mIoU", "mAcc", "aAcc", "fwIoU"], tablefmt="pipe")
        return per_class + "\n\n" + summary
