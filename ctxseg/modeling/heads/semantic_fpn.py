"""Semantic FPN (Kirillov et al., 2019) as MMSegmentation configures it for the CoC models.

The neck is Detectron2's own ``FPN`` (no norm, no activation, no P6); the head subclasses Detectron2's
``SemSegFPNHead`` (same module layout and parameter names) and adds what MMSegmentation's ``FPNHead``
has and Detectron2's lacks: ``Dropout2d`` before the classifier and a choice of loss reduction.
"""
import math
from typing import Dict, Optional

import torch.nn as nn
from detectron2.layers import ShapeSpec
from detectron2.modeling import FPN, SEM_SEG_HEADS_REGISTRY
from detectron2.modeling.meta_arch.semantic_seg import SemSegFPNHead

from ..losses import SegmentationCrossEntropy

__all__ = ["SemanticFPNHead", "build_semantic_fpn_neck", "fpn_feature_shapes"]


def build_semantic_fpn_neck(bottom_up, in_features=("res2", "res3", "res4", "res5"), out_channels=256):
    """Wrap ``bottom_up`` in Detectron2's FPN the way MMSegmentation's Semantic FPN config builds it."""
    return FPN(bottom_up=bottom_up, in_features=list(in_features), out_channels=out_channels, norm="",
               top_block=None, fuse_type="sum")


def fpn_feature_shapes(channels=256, strides=(4, 8, 16, 32)):
    """Shapes of FPN outputs ``p2..p5`` (the head's ``input_shape``) for a LazyConfig."""
    return {f"p{int(math.log2(s))}": ShapeSpec(channels=channels, stride=s) for s in strides}


@SEM_SEG_HEADS_REGISTRY.register()
class SemanticFPNHead(SemSegFPNHead):
    """Semantic FPN decode head: per-level conv/upsample towers, sum, Dropout2d, 1x1 classifier.

    ``forward`` returns logits at ``common_stride``; ``losses`` computes the configured loss on them.
    """

    def __init__(self, input_shape: Dict[str, ShapeSpec], *, num_classes: int, conv_dims: int = 128,
                 common_stride: int = 4, norm: str = "BN", ignore_value: int = 255, dropout: float = 0.1,
                 loss: Optional[nn.Module] = None):
        super().__init__(input_shape=input_shape, num_classes=num_classes, conv_dims=conv_dims,
                         common_stride=common_stride, loss_weight=1.0, norm=norm, ignore_value=ignore_value)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        # MMSegmentation's classifier init (Detectron2's MSRA fill starts from very large logits).
        nn.init.normal_(self.predictor.weight, 0.0, 0.01)
        nn.init.zeros_(self.predictor.bias)
        self.loss = loss if loss is not None else SegmentationCrossEntropy(ignore_label=ignore_value)

    def layers(self, features):
        """Fuse the levels, then dropout and classify (logits at ``common_stride``)."""
        x = self.scale_heads[0](features[self.in_features[0]])
        for name, head in zip(self.in_features[1:], self.scale_heads[1:]):
            x = x + head(features[name])
        return self.predictor(self.dropout(x))

    def forward(self, features):
        """Logits (N, K, H/stride, W/stride) from a dict of FPN features."""
        return self.layers(features)

    def losses(self, logits, targets):
        """``{"loss_sem_seg": ...}`` for logits from ``forward`` and (N, H, W) int64 targets."""
        return {"loss_sem_seg": self.loss(logits, targets)}
