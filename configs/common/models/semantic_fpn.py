"""Semantic FPN (MMSegmentation's FPN neck + FPNHead) on Detectron2's ResNet; swap ``bottom_up`` freely.

Keys: ``model.backbone.bottom_up`` (any Backbone with res2..res5), ``model.backbone`` (Detectron2's FPN,
no norm, no P6), ``model.head`` (``SemanticFPNHead``), ``model.num_classes``.
"""
from detectron2.config import LazyCall as L
from detectron2.modeling.backbone import BasicStem, ResNet

from ctxseg.modeling.heads import SemanticFPNHead, build_semantic_fpn_neck, fpn_feature_shapes
from ctxseg.modeling.losses import SegmentationCrossEntropy
from ctxseg.modeling.meta_arch import EncoderDecoderSegmentor

model = L(EncoderDecoderSegmentor)(
    backbone=L(build_semantic_fpn_neck)(
        bottom_up=L(ResNet)(
            stem=L(BasicStem)(in_channels=3, out_channels=64, norm="BN"),
            stages=L(ResNet.make_default_stages)(depth=18, norm="BN"),
            out_features=["res2", "res3", "res4", "res5"],
            freeze_at=0,
        ),
        in_features=("res2", "res3", "res4", "res5"),
        out_channels=256,
    ),
    head=L(SemanticFPNHead)(
        input_shape=L(fpn_feature_shapes)(channels="${...backbone.out_channels}"),
        num_classes="${..num_classes}",
        conv_dims=128,
        common_stride=4,
        norm="BN",
        ignore_value=255,
        dropout=0.1,
        loss=L(SegmentationCrossEntropy)(ignore_label=255, reduction="all"),
    ),
    num_classes=150,
    test_mode="whole",
)
