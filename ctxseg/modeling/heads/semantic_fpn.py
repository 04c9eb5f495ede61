"""Semantic FPN (Kirillov et al., 2019) as MMSegmentation configures it for the CoC models.

The neck is Detectron2's own ``FPN`` (no norm, no activation, no P6); the head subclasses Detectron2's
``SemSegFPNHead`` (same module layout and parameter names) and adds what MMSegmentation's ``FPNHead``
has and Detectron2's lacks: ``Dropout2d`` before the classifier and a choice of loss reduction.

From a yacs config: ``MODEL.BACKBONE.NAME: build_semantic_fpn_backbone`` wraps the backbone named by
``MODEL.BACKBONE.BOTTOM_UP`` (``MODEL.FPN.*`` keys), ``MODEL.SEM_SEG_HEAD.NAME: SemanticFPNHead``.
"""
import math
from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, FPN, SEM_SEG_HEADS_REGISTRY, Backbone
from detectron2.modeling.meta_arch.semantic_seg import SemSegFPNHead

from ...utils.checks import check_positive
from ..losses import SegmentationCrossEntropy

__all__ = ["SemanticFPNHead", "build_semantic_fpn_neck", "build_semantic_fpn_backbone", "fpn_feature_shapes"]


def build_semantic_fpn_neck(bottom_up: Backbone, in_features: Sequence[str] = ("res2", "res3", "res4", "res5"),
                            out_channels: int = 256, norm: str = "", fuse_type: str = "sum") -> FPN:
    """Wrap ``bottom_up`` in Detectron2's FPN the way MMSegmentation's Semantic FPN config builds it (no P6)."""
    return FPN(bottom_up=bottom_up, in_features=list(in_features), out_channels=out_channels, norm=norm,
               top_block=None, fuse_type=fuse_type)


@BACKBONE_REGISTRY.register()
def build_semantic_fpn_backbone(cfg, input_shape: ShapeSpec) -> FPN:
    """The Semantic FPN neck around the backbone ``MODEL.BACKBONE.BOTTOM_UP`` names, from ``MODEL.FPN``.

    Unlike Detectron2's ``build_resnet_fpn_backbone`` there is no P6 (the head never reads it, and it
    would make inputs pad to multiples of 64 instead of 32), and any registered backbone can be the
    bottom-up one.
    """
    bottom_up = BACKBONE_REGISTRY.get(cfg.MODEL.BACKBONE.BOTTOM_UP)(cfg, input_shape)
    return build_semantic_fpn_neck(bottom_up, in_features=cfg.MODEL.FPN.IN_FEATURES,
                                   out_channels=cfg.MODEL.FPN.OUT_CHANNELS, norm=cfg.MODEL.FPN.NORM,
                                   fuse_type=cfg.MODEL.FPN.FUSE_TYPE)


def fpn_feature_shapes(channels: int = 256, strides: Sequence[int] = (4, 8, 16, 32)) -> Dict[str, ShapeSpec]:
    """Shapes of FPN outputs ``p2..p5`` (the head's ``input_shape``) for a LazyConfig."""
    return {f"p{int(math.log2(s))}": ShapeSpec(channels=channels, stride=s) for s in strides}


@SEM_SEG_HEADS_REGISTRY.register()
class SemanticFPNHead(SemSegFPNHead):
    """Semantic FPN decode head: per-level conv/upsample towers, sum, Dropout2d, 1x1 classifier.

    ``forward`` returns logits at ``common_stride``; ``losses`` computes the configured loss on them.
    From a yacs config it reads Detectron2's ``MODEL.SEM_SEG_HEAD`` keys plus ``DROPOUT``,
    ``LOSS_REDUCTION`` and ``CLASS_WEIGHT``.
    """

    @configurable
    def __init__(self, input_shape: Dict[str, ShapeSpec], *, num_classes: int, conv_dims: int = 128,
                 common_stride: int = 4, norm: str = "BN", ignore_value: int = 255, dropout: float = 0.1,
                 loss: Optional[nn.Module] = None):
        check_positive("SemanticFPNHead", num_classes=num_classes, conv_dims=conv_dims, common_stride=common_stride)
        super().__init__(input_shape=input_shape, num_classes=num_classes, conv_dims=conv_dims,
                         common_stride=common_stride, loss_weight=1.0, norm=norm, ignore_value=ignore_value)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        # MMSegmentation's classifier init (Detectron2's MSRA fill starts from very large logits).
        nn.init.normal_(self.predictor.weight, 0.0, 0.01)
        nn.init.zeros_(self.predictor.bias)
        self.loss = loss if loss is not None else SegmentationCrossEntropy(ignore_label=ignore_value)
        if isinstance(self.loss, SegmentationCrossEntropy):  # a loss of the user's own checks itself
            self.loss.check_num_classes(num_classes, "SemanticFPNHead")

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        """Arguments from ``MODEL.SEM_SEG_HEAD`` for the features of ``input_shape`` it names in ``IN_FEATURES``."""
        head = cfg.MODEL.SEM_SEG_HEAD
        loss = SegmentationCrossEntropy(ignore_label=head.IGNORE_VALUE, class_weight=head.CLASS_WEIGHT or None,
                                        reduction=head.LOSS_REDUCTION, loss_weight=head.LOSS_WEIGHT)
        return dict(input_shape={name: shape for name, shape in input_shape.items() if name in head.IN_FEATURES},
                    num_classes=head.NUM_CLASSES, conv_dims=head.CONVS_DIM, common_stride=head.COMMON_STRIDE,
                    norm=head.NORM, ignore_value=head.IGNORE_VALUE, dropout=head.DROPOUT, loss=loss)

    def layers(self, features):
        """Fuse the levels, then dropout and classify (logits at ``common_stride``)."""
        x = self.scale_heads[0](features[self.in_features[0]])
        for name, head in zip(self.in_features[1:], self.scale_heads[1:]):
            x = x + head(features[name])
        return self.predictor(self.dropout(x))

    def forward(self, features: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits (N, K, H/stride, W/stride) from a dict of FPN features."""
        return self.layers(features)

    def losses(self, logits: torch.Tensor, targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``{"loss_sem_seg": ...}`` for logits from ``forward`` and (N, H, W) int64 targets."""
        return {"loss_sem_seg": self.loss(logits, targets)}
