"""The encoder-decoder segmentor every ctxseg model uses: backbone -> head -> losses / predictions.

Inference modes: ``whole`` image, or ``slide`` windows (batched, MMSegmentation's grid), each optionally inside
MMSegmentation's multi-scale + flip test-time augmentation (the views come from the test mapper). Results come
in Detectron2's form, ``[{"sem_seg": (K, height, width) class probabilities}]`` at each image's original size;
``predict`` gives the label map with bounded memory.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, build_backbone, build_sem_seg_head
from detectron2.structures import ImageList
from detectron2.utils.events import get_event_storage

from ...utils.checks import check_positive
from ..losses import pixel_accuracy
from .resizing import pad_to_divisible, resize_rows_bilinear

# Above this many (class x pixel) values (1 GB of float32, beyond any benchmark image), ``predict`` computes the
# label map band by band, each band of at most BAND_VALUES values.
LABELS_AT_ONCE = 2 ** 28
BAND_VALUES = 2 ** 24

__all__ = ["EncoderDecoderSegmentor", "sliding_windows"]


def sliding_windows(height: int, width: int, crop_size: Sequence[int],
                    stride: Sequence[int]) -> List[Tuple[int, int, int, int]]:
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
        tta_scales: test-time scale ratios (None: (1.0,)); the test mapper makes one view per ratio from the
            original image (its ``tta_scales`` must be the same; the configs link it to this one).
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
        check_positive("SemanticSegmentor", num_classes=num_classes, slide_batch_size=slide_batch_size)
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
        self.tta_scales = tuple(float(r) for r in tta_scales) if tta_scales else (1.0,)
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

    def forward(self, batched_inputs: List[Dict[str, Any]]
                ) -> Union[Dict[str, torch.Tensor], List[Dict[str, torch.Tensor]]]:
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
        padded = pad_to_divisible(images, self.size_divisibility)
        logits = self.sem_seg_head(self.backbone(padded))
        if not torch.is_tensor(logits):
            logits = logits[0]
        if logits.shape[1] != self.num_classes:
            raise RuntimeError(f"the head predicts {logits.shape[1]} classes, the model expects {self.num_classes}")
        with torch.autocast(padded.device.type, enabled=False):  # the resize of the logits in float32
            logits = F.interpolate(logits.float(), size=padded.shape[-2:], mode="bilinear", align_corners=False)
        return logits[..., :height, :width]

    def slide_logits(self, image):
        """Logits of one normalised (3, H, W) image from batched sliding windows."""
        height, width = image.shape[-2:]
        windows = sliding_windows(height, width, self.crop_size, self.stride)
        canvas = image.new_zeros((self.num_classes, height, width), dtype=torch.float32)
        count = image.new_zeros((1, height, width), dtype=torch.float32)
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

    def test_views(self, sample):
        """The (C, h, w) images of a mapped test sample, one per TTA scale (the sample's "image" without TTA).

        With ``tta_scales`` the mapper must have made the views (``"tta_views"``, see ``SemSegDatasetMapper``):
        each is the original image resized to the test scale times its ratio, as MMSegmentation's
        ``MultiScaleFlipAug`` does; rescaling the already resized image instead would give views a pixel off.
        """
        views = sample.get("tta_views")
        if views is None:
            if self.tta_scales != (1.0,):
                raise ValueError(f"the model tests at the scales {list(self.tta_scales)} (model.tta_scales) but the "
                                 "input has no 'tta_views': map it with the config's test mapper, whose "
                                 "tta_scales must be the same")
            return [sample["image"]]
        ratios = tuple(float(v["ratio"]) for v in views)
        if ratios != self.tta_scales:
            raise ValueError(f"the input's test views are at the scales {list(ratios)}, the model expects "
                             f"{list(self.tta_scales)} (model.tta_scales and dataloader.test.mapper.tta_scales differ)")
        return [v["image"] for v in views]

    def view_outputs(self, sample):
        """Yield ``(logits, flipped)`` of every test view: (K, h, w) float32 logits at the view's size."""
        for image in self.test_views(sample):
            image = self.normalize(image)
            for flip in (False, True) if self.tta_flip else (False,):
                yield self.view_logits(image.flip(-1) if flip else image), flip

    def inference(self, sample: Dict[str, Any]) -> Dict[str, torch.Tensor]:
        """``{"sem_seg": (K, height, width) probabilities}`` for one mapped test sample.

        Each view's logits are resized to the original size, turned into probabilities (flipped back for
        flipped views) and averaged, all in float32 whatever autocast is active.
        """
        out_size = self.output_size(sample)
        probs, count = None, 0
        for logits, flip in self.view_outputs(sample):
            with torch.autocast(logits.device.type, enabled=False):
                logits = F.interpolate(logits[None], size=out_size, mode="bilinear", align_corners=False)[0]
                p = logits.softmax(0)
            p = p.flip(-1) if flip else p
            probs = p if probs is None else probs + p
            count += 1
        return {"sem_seg": probs / count}

    def output_size(self, sample):
        """(height, width) of the original image of a mapped sample."""
        image = sample["image"]
        return sample.get("height", image.shape[-2]), sample.get("width", image.shape[-1])

    def predict(self, sample: Dict[str, Any], with_probabilities: bool = False, max_elements: int = LABELS_AT_ONCE
                ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """``(labels, probabilities or None)`` of one mapped sample at its original size.

        The labels are the argmax of :meth:`inference`'s probabilities. When the whole (K, H, W) map would
        exceed ``max_elements`` values (a large photo) and no probabilities are asked for, the labels are
        computed band by band from the views' logits, so memory stays bounded whatever the image size.
        Labels are uint8 for up to 256 classes, else int32.
        """
        height, width = self.output_size(sample)
        dtype = torch.uint8 if self.num_classes <= 256 else torch.int32
        if with_probabilities or self.num_classes * height * width <= max_elements:
            probs = self.inference(sample)["sem_seg"]
            return probs.argmax(0).to(dtype), (probs if with_probabilities else None)
        outputs = list(self.view_outputs(sample))
        labels = torch.empty((height, width), dtype=dtype, device=self.device)
        rows = max(1, min(BAND_VALUES, max_elements) // (self.num_classes * width))
        with torch.autocast(self.device.type, enabled=False):
            for top in range(0, height, rows):
                bottom = min(top + rows, height)
                probs = sum(self._flipped(resize_rows_bilinear(logits, (height, width), top, bottom).softmax(0), flip)
                            for logits, flip in outputs)
                # max(0) gives argmax's first-maximum indices, several times faster on a (K, rows, W) band.
                labels[top:bottom] = probs.max(0).indices.to(dtype)
        return labels, None

    @staticmethod
    def _flipped(probs, flip):
        return probs.flip(-1) if flip else probs
