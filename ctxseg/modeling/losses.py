"""Segmentation losses: cross-entropy with ignore, class weights, OHEM pixel sampling, reductions.

Two reductions exist because the reference implementations differ:

* ``"valid"``: the mean over non-ignored pixels (weighted by the class weights, as PyTorch does):
  Detectron2's rule.
* ``"all"``: the sum divided by the number of **all** pixels, ignored and unselected ones counting as
  zero: MMSegmentation 0.x's rule, which the published CoC and IIWA numbers were trained with.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["ohem_pixel_mask", "SegmentationCrossEntropy", "pixel_accuracy"]


@torch.no_grad()
def ohem_pixel_mask(logits, targets, ignore_label=255, thresh: Optional[float] = 0.7, min_kept=100000,
                    pixel_losses=None):
    """Online hard example mining: a 0/1 float mask of the pixels to keep (MMSegmentation semantics).

    With ``thresh``: keep the valid pixels whose probability of the true class is below
    ``max(thresh, p_k)``, where ``p_k`` is the ``min_kept * batch``-th smallest such probability (so at
    least that many are kept). Without ``thresh``: keep the ``min_kept * batch`` valid pixels of
    largest ``pixel_losses``.
    """
    valid = targets != ignore_label
    batch_kept = min_kept * targets.shape[0]
    mask = torch.zeros(targets.shape, dtype=torch.float32, device=targets.device)
    valid_mask = mask[valid]
    if thresh is not None:
        safe_targets = targets.masked_fill(~valid, 0).unsqueeze(1)
        prob = F.softmax(logits.float(), dim=1).gather(1, safe_targets).squeeze(1)[valid]
        sorted_prob, _ = prob.sort()
        if sorted_prob.numel() > 0:
            min_threshold = sorted_prob[min(batch_kept, sorted_prob.numel() - 1)].item()
        else:
            min_threshold = 0.0
        valid_mask[prob < max(min_threshold, thresh)] = 1.0
    else:
        if pixel_losses is None:
            raise ValueError("ohem_pixel_mask: pixel_losses are required when thresh is None")
        _, order = pixel_losses[valid].sort(descending=True)
        valid_mask[order[:batch_kept]] = 1.0
    mask[valid] = valid_mask
    return mask


class SegmentationCrossEntropy(nn.Module):
    """Per-pixel cross-entropy on logits resized to the label size, with ignore and optional OHEM.

    Args:
        ignore_label: label value that contributes no loss.
        class_weight: optional per-class weights (length = number of classes).
        reduction: ``"valid"`` (mean over non-ignored pixels) or ``"all"`` (mean over all pixels).
        loss_weight: factor applied to the result.
        ohem_thresh, ohem_min_kept: enable OHEM pixel sampling when ``ohem_min_kept`` is not None
            (``ohem_thresh`` None selects by loss instead of probability). With OHEM the reduction is
            always ``"all"`` (MMSegmentation's behaviour).
        align_corners: of the bilinear resize of the logits to the label size.
    """

    def __init__(self, ignore_label=255, class_weight: Optional[Sequence[float]] = None, reduction="valid",
                 loss_weight=1.0, ohem_thresh: Optional[float] = None, ohem_min_kept: Optional[int] = None,
                 align_corners=False):
        super().__init__()
        if reduction not in ("valid", "all"):
            raise ValueError(f"reduction must be 'valid' or 'all', got '{reduction}'")
        # A config override "None" arrives as a string: say so instead of failing inside the sampler.
        if ohem_min_kept is not None and (isinstance(ohem_min_kept, bool) or not isinstance(ohem_min_kept, int)):
            raise TypeError(f"ohem_min_kept must be an int or None (null in overrides), got {ohem_min_kept!r}")
        if ohem_thresh is not None and not isinstance(ohem_thresh, (int, float)):
            raise TypeError(f"ohem_thresh must be a number or None (null in overrides), got {ohem_thresh!r}")
        self.ignore_label = ignore_label
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.ohem_thresh = ohem_thresh
        self.ohem_min_kept = ohem_min_kept
        self.align_corners = align_corners
        weight = None if class_weight is None else torch.as_tensor(class_weight, dtype=torch.float32)
        self.register_buffer("class_weight", weight, persistent=False)

    def check_num_classes(self, num_classes: int, owner: str = "SegmentationCrossEntropy") -> None:
        """Raise ``ValueError`` unless ``class_weight`` (if any) has one entry per class.

        Heads call it when they are built, so that a wrong list fails with the config, not at the first step.
        """
        if self.class_weight is not None and self.class_weight.numel() != num_classes:
            raise ValueError(f"{owner}: class_weight has {self.class_weight.numel()} entries but there are "
                             f"{num_classes} classes")

    def forward(self, logits, targets):
        """Loss of ``logits`` (N, K, h, w) against ``targets`` (N, H, W) int64."""
        self.check_num_classes(logits.shape[1])
        logits = logits.float()
        if logits.shape[-2:] != targets.shape[-2:]:
            logits = F.interpolate(logits, size=targets.shape[-2:], mode="bilinear",
                                   align_corners=self.align_corners)
        pixel_losses = F.cross_entropy(logits, targets, weight=self.class_weight,
                                       ignore_index=self.ignore_label, reduction="none")
        if self.ohem_min_kept is not None:
            mask = ohem_pixel_mask(logits, targets, self.ignore_label, self.ohem_thresh, self.ohem_min_kept,
                                   pixel_losses=pixel_losses)
            loss = (pixel_losses * mask).sum() / pixel_losses.numel()
        elif self.reduction == "all":
            loss = pixel_losses.sum() / pixel_losses.numel()
        else:
            valid = targets != self.ignore_label
            if self.class_weight is None:
                denominator = valid.sum()
            else:
                denominator = self.class_weight[targets[valid]].sum()
            loss = pixel_losses.sum() / denominator.clamp(min=1e-12)
        return loss * self.loss_weight


@torch.no_grad()
def pixel_accuracy(logits, targets, ignore_label=255):
    """Share (in %) of non-ignored pixels whose argmax of ``logits`` (resized to the label) is right."""
    if logits.shape[-2:] != targets.shape[-2:]:
        logits = F.interpolate(logits.float(), size=targets.shape[-2:], mode="bilinear", align_corners=False)
    valid = targets != ignore_label
    correct = (logits.argmax(1) == targets) & valid
    return 100.0 * correct.sum().float() / valid.sum().clamp(min=1).float()
