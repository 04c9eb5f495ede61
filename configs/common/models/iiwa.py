"""IIWA: dilated Swin-S + Cross-IIWA fusion neck + IIWA decoder, ADE20K defaults.

The neck and the decoder were never released and are reconstructed: docs/iiwa_reconstruction.md.

Keys: ``model.backbone.bottom_up`` (the Swin, strides 4, 8, 8, 8), ``model.backbone`` (the fusion neck:
``n_head``, ``patch_sizes`` = key/query windows of fusions 0, 1, 2), ``model.head`` (the decoder:
``embed_dim``, ``query_dim``, ``memory_dims`` = the neck widths E, 2E, 4E, windows, embeddings, OHEM, aux
weight), ``model.num_classes``, the test mode. The Swin-B configs call :func:`use_swin_b`; the project
configs change the windows and classes per dataset.
"""
from detectron2.config import LazyCall as L

from ctxseg.modeling.backbone import IIWAFusionNeck
from ctxseg.modeling.heads import IIWADecoderHead
from ctxseg.modeling.meta_arch import EncoderDecoderSegmentor

from .swin import DILATED_STRIDES, SWIN_B, SWIN_S

model = L(EncoderDecoderSegmentor)(
    backbone=L(IIWAFusionNeck)(
        bottom_up=SWIN_S,
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
        embed_norm="bn",
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
model.backbone.bottom_up.strides = DILATED_STRIDES


def use_swin_b(model):
    """Make an IIWA ``model`` the Swin-B one of every Swin-B config: the window-12 Swin-B (the 384 22k
    checkpoint), neck widths 128/256/512 and a 3-block decoder of width 256.

    Upstream's latest Swin-B ADE20K config gives the Swin-L dimensions (E=192) with the Swin-B checkpoint,
    which cannot load; these are the true Swin-B dimensions of its earlier revision, which the Cityscapes
    and Pascal Context Swin-B configs also use."""
    model.backbone.bottom_up = SWIN_B
    model.backbone.bottom_up.strides = DILATED_STRIDES
    model.head.update(embed_dim=256, query_dim=256, memory_dims=(128, 256, 512), depths=(1, 1, 1))
