"""IIWA: dilated Swin-S + Cross-IIWA fusion neck + IIWA decoder, ADE20K defaults.

The neck and the decoder were never released and are reconstructed: docs/iiwa_reconstruction.md.

Keys: ``model.backbone.bottom_up`` (the Swin, strides 4, 8, 8, 8), ``model.backbone`` (the fusion neck:
``n_head``, ``patch_sizes`` = key/query windows of fusions 0, 1, 2), ``model.head`` (the decoder:
``embed_dim``, ``query_dim``, ``memory_dims`` = the neck widths E, 2E, 4E, windows, OHEM, aux weight),
``model.num_classes``, the test mode. Project configs change the dims, windows and classes as each
released IIWA config does.
"""
from detectron2.config import LazyCall as L

from ctxseg.modeling.backbone.swin import D2SwinTransformer
from ctxseg.modeling.heads import IIWADecoderHead, IIWAFusionNeck
from ctxseg.modeling.meta_arch import EncoderDecoderSegmentor

model = L(EncoderDecoderSegmentor)(
    backbone=L(IIWAFusionNeck)(
        bottom_up=L(D2SwinTransformer)(embed_dim=96, depths=[2, 2, 18, 2], num_heads=[3, 6, 12, 24],
                                       window_size=7, strides=(4, 2, 1, 1), drop_path_rate=0.3),
        in_features=("res2", "res3", "res4", "res5"),
        n_head=(4, 8, 16),
        patch_sizes=[(4, 4), (8, 8), (4, 4), (4, 4), (4, 4), (4, 4)],
        dropout_ratio=0.1,
    ),
    head=L(IIWADecoderHead)(
        num_classes="${..num_classes}",
        embed_dim=384,
        query_dim=256,
        memory_dims=(96, 192, 384),
        depths=(1, 1, 1, 1),
        num_heads=8,
        window_size_q=(8, 8),
        window_size_k=(8, 8),
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.2,
        head_scale=4,
        class_weight=None,
        ohem_thresh=0.7,
        ohem_min_kept=100000,
        aux_weight=0.4,
    ),
    num_classes=150,
    test_mode="slide",
    crop_size=(512, 512),
    stride=(384, 384),
    tta_scales=None,  # single scale; the multi-scale test: (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
    tta_flip=False,
)
