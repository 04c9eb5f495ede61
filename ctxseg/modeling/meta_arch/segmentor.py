"""The encoder-decoder segmentor every ctxseg model uses: backbone -> head -> losses / predictions.

Inference modes (``../../specs`` data.md): ``whole`` image, or ``slide`` windows (batched), each
optionally inside multi-scale + flip test-time augmentation. Results come in Detectron2's form,
``[{"sem_seg": (K, height, width) class probabilities}]`` at each image's original size.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, build_backbone, build_sem_seg_head
from detectron2.structures import ImageList
from detectron2.utils.events import get_event_storage

from ..losses import pixel_accuracy

__all__ = ["EncoderDecoderSegmentor", "sliding_windows"]


def sliding_windows(height, width, crop_size, stride):
    """(y0, y1, x0, x1) of every window of the slide grid (MMSegmentation's rule)."""
    (ch, cw), (sh, sw) = crop_size, stride
    rows = max(height - ch + sh - 1, 0) // sh + 1
    cols = max(width - cw + sw - 1, 0) // sw + 1
    windows = []
    for i in range(rows):
        for j in range(cols):
            y1, x1 = min(i * sh + ch, height), min(j * sw + cw, width)
            windows.append((max(y1 - ch, 0), y1, max(x1 - cw, 0), x1))
    return windows


@META_ARCH_REGISTRY.register()
class EncoderDecoderSegmentor(nn.Module):
    """Normalises and pads the inputs, runs backbone and head, returns losses or predictions.

    Args:
        backbone: a Detectron2 ``Backbone`` (its ``size_divisibility`` is used unless overridden).
        head: a module with ``forward(features) -> logits`` and ``losses(outputs, targets) -> dict``.
        num_classes: number of classes (checked against the head's logits).
        pixel_mean, pixel_std: normalisation (RGB order, 0..255 scale).
        ignore_label: label value of pixels with no class (targets are padded with it).
        size_divisibility: pad inputs to multiples of this (None: the backbone's).
        test_mode: ``"whole"`` or ``"slide"``.
        crop_size, stride: the slide window and step (H, W).
        slide_batch_size: windows per forward pass in ``slide`` mode.
        tta_scales: test-time scale ratios applied to the mapped test image (None: (1.0,)).
        tta_flip: also predict on the horizontally flipped views.

    From a yacs config (``build_model(cfg)``): the backbone and head through their registries
    (``MODEL.BACKBONE``, ``MODEL.SEM_SEG_HEAD``), the rest from ``MODEL.SEGMENTOR`` (see :meth:`from_config`).
    """

    @configurable
    def __init__(self, *, backbone: nn.Module, head: nn.Module, num_classes: int,
                 pixel_mean: Sequence[float] = (123.675, 116.28, 103.53),
                 pixel_std: Sequence[float] = (58.395, 57.12, 57.375), ignore_label: int = 255,
                 size_divisibility: Optional[int] = None, test_mode: str = "whole",
                 crop_size: Optional[Tuple[int, int]] = None, stride: Optional[Tuple[int, int]] = None,
                 slide_batch_size: int = 4, tta_scales: Optional[Sequence[float]] = None, tta_flip: bool = False):
        super().__init__()
        if test_mode not in ("whole", "slide"):
            raise ValueError(f"test_mode must be 'whole' or 'slide', got '{test_mode}'")
        if test_mode == "slide" and (crop_size is None or stride is None):
            raise ValueError("test_mode='slide' needs crop_size and stride")
        self.backbone = backbone
        self.sem_seg_head = head
        self.num_classes = num_classes
        self.ignore_label = ignore_label
        if size_divisibility is None:
            size_divisibility = getattr(backbone, "size_divisibility", 0)
        self.size_divisibility = size_divisibility
        self.test_mode = test_mode
        self.crop_size = None if crop_size is None else tuple(crop_size)
        self.stride = None if stride is None else tuple(stride)
        self.slide_batch_size = slide_batch_size
        self.tta_scales = tuple(tta_scales) if tta_scales else (1.0,)
        self.tta_flip = tta_flip
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean, dtype=torch.float32).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std, dtype=torch.float32).view(-1, 1, 1), False)

    @classmethod
    def from_config(cls, cfg):
        """Arguments from a yacs config: ``MODEL.SEGMENTOR`` (``ctxseg.config.add_ctxseg_config``), the number
        of classes and ignore value of ``MODEL.SEM_SEG_HEAD``, ``MODEL.PIXEL_MEAN`` / ``PIXEL_STD``."""
        backbone = build_backbone(cfg)
        segmentor = cfg.MODEL.SEGMENTOR
        return dict(backbone=backbone, head=build_sem_seg_head(cfg, backbone.output_shape()),
                    num_classes=cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES, pixel_mean=cfg.MODEL.PIXEL_MEAN,
                    pixel_std=cfg.MODEL.PIXEL_STD, ignore_label=cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE,
                    size_divisibility=None if segmentor.SIZE_DIVISIBILITY < 0 else segmentor.SIZE_DIVISIBILITY,
                    test_mode=segmentor.TEST_MODE, crop_size=segmentor.CROP_SIZE or None,
                    stride=segmentor.STRIDE or None, slide_batch_size=segmentor.SLIDE_BATCH_SIZE,
                    tta_scales=segmentor.TTA_SCALES or None, tta_flip=segmentor.TTA_FLIP)

    @property
    def device(self):
        """The device the model's buffers live on."""
        return self.pixel_mean.device

    def normalize(self, image):
        """(C, H, W) image on 0..255 -> normalised float32 on the model's device."""
        return (image.to(self.device, non_blocking=True).float() - self.pixel_mean) / self.pixel_std

    def forward(self, batched_inputs):
        """Losses (training) or ``[{"sem_seg": probabilities}]`` (inference) for mapper outputs."""
        if self.training:
            return self.forward_train(batched_inputs)
        return [self.inference(x) for x in batched_inputs]

    # ----------------------------------------------------------------------------------- training
    def forward_train(self, batched_inputs):
        """Dict of losses for a batch of mapped training samples (each with "image" and "sem_seg")."""
        if any("sem_seg" not in x for x in batched_inputs):
            raise KeyError("training inputs need a 'sem_seg' label map")
        images = ImageList.from_tensors([self.normalize(x["image"]) for x in batched_inputs],
                                        self.size_divisibility, pad_value=0.0)
        targets = ImageList.from_tensors([x["sem_seg"].to(self.device) for x in batched_inputs],
                                         self.size_divisibility, pad_value=self.ignore_label).tensor
        outputs = self.sem_seg_head(self.backbone(images.tensor))
        losses = self.sem_seg_head.losses(outputs, targets)
        logits = outputs if torch.is_tensor(outputs) else outputs[0]
        try:
            get_event_storage().put_scalar("acc_seg", pixel_accuracy(logits, targets, self.ignore_label).item())
        except AssertionError:  # no EventStorage outside a trainer
            pass
        return losses

    # ---------------------------------------------------------------------------------- inference
    def encode_decode(self, images):
        """Logits at the input size for a (N, 3, H, W) normalised batch (padded internally)."""
        height, width = images.shape[-2:]
        padded = ImageList.from_tensors(list(images), self.size_divisibility, pad_value=0.0).tensor
        logits = self.sem_seg_head(self.backbone(padded))
        if not torch.is_tensor(logits):
            logits = logits[0]
        logits = F.interpolate(logits.float(), size=padded.shape[-2:], mode="bilinear", align_corners=False)
        if logits.shape[1] != self.num_classes:
            raise RuntimeError(f"the head predicts {logits.shape[1]} classes, the model expects {self.num_classes}")
        return logits[..., :height, :width]

    def slide_logits(self, image):
        """Logits of one normalised (3, H, W) image from batched sliding windows."""
        height, width = image.shape[-2:]
        windows = sliding_windows(height, width, self.crop_size, self.stride)
        canvas = image.new_zeros((self.num_classes, height, width))
        count = image.new_zeros((1, height, width))
        for start in range(0, len(windows), self.slide_batch_size):
            chunk = windows[start:start + self.slide_batch_size]
            crops = torch.stack([image[:, y0:y1, x0:x1] for y0, y1, x0, x1 in chunk])
            for (y0, y1, x0, x1), logits in zip(chunk, self.encode_decode(crops)):
                canvas[:, y0:y1, x0:x1] += logits
                count[:, y0:y1, x0:x1] += 1
        return canvas / count

    def view_logits(self, image):
        """Logits of one normalised image at its own size with the configured test mode."""
        if self.test_mode == "slide":
            return self.slide_logits(image)
        return self.encode_decode(image[None])[0]

    def inference(self, sample):
        """``{"sem_seg": (K, height, width) probabilities}`` for one mapped test sample."""
        image = self.normalize(sample["image"])
        out_size = (sample.get("height", image.shape[-2]), sample.get("width", image.shape[-1]))
        probs = None
        for scale in self.tta_scales:
            scaled = image
            if scale != 1.0:
                size = (int(image.shape[-2] * scale + 0.5), int(image.shape[-1] * scale + 0.5))
                scaled = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False)[0]
            for flip in (False, True) if self.tta_flip else (False,):
                view = scaled.flip(-1) if flip else scaled
                logits = self.view_logits(view)
                logits = F.interpolate(logits[None], size=out_size, mode="bilinear", align_corners=False)[0]
                p = logits.softmax(0)
                p = p.flip(-1) if flip else p
                probs = p if probs is None else probs + p
        return {"sem_seg": probs / (len(self.tta_scales) * (2 if self.tta_flip else 1))}
