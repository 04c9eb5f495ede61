"""The small-receptive-field baseline of the context toy: ResNet-18's stem and first stage (res2, stride 4)
under a one-level Semantic FPN, trained as ``fpn_r18_context_toy.py``.

Each output pixel sees a 67 x 67 window of the input (stem 11 px, res2's four 3x3 convolutions at stride 4
+32, the FPN's and the head's 3x3 convolutions +16, the x4 bilinear upsampling +8), so no object pixel of the
context toy (at least 56 px, that is 39.6 px along each axis, from the marker) sees the marker: this model
cannot tell "object A" from "object B" better than chance.
"""
from detectron2.config import LazyCall as L

from ctxseg.modeling.heads import fpn_feature_shapes

from .fpn_r18_context_toy import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

model.backbone.bottom_up.out_features = ["res2"]
model.backbone.in_features = ("res2",)
model.head.input_shape = L(fpn_feature_shapes)(channels="${...backbone.out_channels}", strides=(4,))
train.output_dir = "./output/fpn_r18_local_context_toy"
