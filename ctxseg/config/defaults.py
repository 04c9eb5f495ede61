"""ctxseg's keys of a Detectron2 yacs config (``get_cfg()``): what the registered classes read there.

    from detectron2.config import get_cfg
    from detectron2.modeling import build_model
    from ctxseg.config import add_ctxseg_config

    cfg = get_cfg()
    add_ctxseg_config(cfg)
    cfg.merge_from_file("configs/toy/fpn_swin_toy.yaml")
    model = build_model(cfg)

Only keys that are missing are added, so the function composes with other projects' ``add_*_config``
in either order: after Mask2Former's ``add_maskformer2_config`` it keeps Mask2Former's ``MODEL.SWIN``
values and adds ctxseg's extra Swin keys (``STRIDES``, ``FROZEN_STAGES``). Detectron2's own defaults
are never changed.
"""
from detectron2.config import CfgNode as CN

__all__ = ["add_ctxseg_config", "ctxseg_defaults"]


def _swin():
    # Mask2Former's key names and default values (Swin-T), plus ctxseg's STRIDES and FROZEN_STAGES.
    # D2SwinTransformer refuses the values it does not implement (QKV_BIAS False, QK_SCALE set, DROP_RATE or
    # ATTN_DROP_RATE > 0, APE True, PATCH_NORM False); PRETRAIN_IMG_SIZE only sizes APE's table.
    return CN({
        "PRETRAIN_IMG_SIZE": 224,
        "PATCH_SIZE": 4,
        "EMBED_DIM": 96,
        "DEPTHS": [2, 2, 6, 2],
        "NUM_HEADS": [3, 6, 12, 24],
        "WINDOW_SIZE": 7,
        "MLP_RATIO": 4.0,
        "QKV_BIAS": True,
        "QK_SCALE": None,
        "DROP_RATE": 0.0,
        "ATTN_DROP_RATE": 0.0,
        "DROP_PATH_RATE": 0.3,
        "APE": False,
        "PATCH_NORM": True,
        "OUT_FEATURES": ["res2", "res3", "res4", "res5"],
        "USE_CHECKPOINT": False,
        "STRIDES": [4, 2, 2, 2],  # the patch size, then each patch merging's stride (1: IIWA's dilated layout)
        "FROZEN_STAGES": -1,
    })


def _coc():
    # SIZE and PROPOSALS choose a published variant; an architecture key left empty ([] or 0) keeps that
    # variant's value, a given one replaces it (e.g. a smaller network for the toy).
    return CN({
        "SIZE": "small",  # small | medium
        "PROPOSALS": 4,  # proposal centres per region: 4, 25 or 49
        "AGG_NORM": "sim",  # sim | count (the authors' first ADE20K release)
        "DROP_PATH_RATE": 0.0,
        "LAYER_SCALE_INIT": 1e-5,
        "OUT_FEATURES": ["res2", "res3", "res4", "res5"],
        "DEPTHS": [],
        "EMBED_DIMS": [],
        "MLP_RATIOS": [],
        "HEADS": [],
        "HEAD_DIM": 0,
        "FOLD": [],
    })


def _iiwa():
    # The IIWA fusion neck (MODEL.BACKBONE.NAME: IIWAFusionNeck around MODEL.BACKBONE.BOTTOM_UP) and decoder
    # (MODEL.SEM_SEG_HEAD.NAME: IIWADecoderHead, which takes its classes, ignore value and class weights
    # from MODEL.SEM_SEG_HEAD); defaults: the Swin-S ADE20K model. The decoder's input widths come from
    # the neck's output shapes.
    return CN({
        "NECK": {
            "IN_FEATURES": ["res2", "res3", "res4", "res5"],
            "NUM_HEADS": [4, 8, 16],  # fusions 0, 1, 2
            # (h, w) windows: key then query window of fusion 0, then fusion 1, then fusion 2
            "WINDOW_SIZES": [[4, 4], [8, 8], [4, 4], [4, 4], [4, 4], [4, 4]],
            "DROPOUT": 0.1,
            "SCALE": "one",  # Cross-IIWA's attention scale: one (released) | sqrt
            "LOCAL_SOFTMAX": False,
            "FFN_DIMS": [],  # widths of a feed-forward block after each fusion; [] for none (released)
        },
        "DECODER": {
            "EMBED_DIM": 384,
            "QUERY_DIM": 256,
            "DEPTHS": [1, 1, 1, 1],
            "NUM_HEADS": 8,
            "WINDOW_SIZE_Q": [8, 8],
            "WINDOW_SIZE_K": [8, 8],
            "MLP_RATIO": 4.0,
            "QKV_BIAS": True,
            "QK_SCALE": None,
            "DROP_RATE": 0.0,
            "ATTN_DROP_RATE": 0.0,
            "DROP_PATH_RATE": 0.2,
            "EMBED_NORM": "bn",  # embeddings of the query and memories: bn (1x1 conv + SyncBN) | ln (Linear + LN)
            "HEAD_SCALE": 4,
            "QUERY_FEATURE": "res5",
            "MEMORY_FEATURES": ["f0", "f1", "f2"],
            "OHEM_THRESH": 0.7,
            "OHEM_MIN_KEPT": 100000,  # null: plain cross-entropy
            "AUX_WEIGHT": 0.4,
            "ALIGN_CORNERS": False,
            "USE_CHECKPOINT": False,
        },
    })


def ctxseg_defaults() -> CN:
    """A config holding only ctxseg's keys with their default values (merged into a full one by
    :func:`add_ctxseg_config`)."""
    return CN({
        "MODEL": {
            # The bottom-up network of a neck built by name (build_semantic_fpn_backbone, the IIWA neck).
            "BACKBONE": {"BOTTOM_UP": "build_resnet_backbone"},
            "SWIN": _swin(),
            "COC": _coc(),
            "IIWA": _iiwa(),
            # ctxseg's Semantic FPN head beyond Detectron2's keys (NUM_CLASSES, IN_FEATURES, CONVS_DIM, ...).
            "SEM_SEG_HEAD": {
                "DROPOUT": 0.1,
                "LOSS_REDUCTION": "valid",  # valid: mean over labelled pixels; all: over all pixels
                "CLASS_WEIGHT": [],  # one weight per class; [] for none
            },
            # EncoderDecoderSegmentor; num_classes, ignore value and normalisation come from SEM_SEG_HEAD
            # and MODEL.PIXEL_MEAN / PIXEL_STD.
            "SEGMENTOR": {
                "SIZE_DIVISIBILITY": -1,  # pad inputs to a multiple of this; -1: the backbone's
                "TEST_MODE": "whole",  # whole | slide
                "CROP_SIZE": [],  # slide window (H, W)
                "STRIDE": [],  # slide step (H, W)
                "SLIDE_BATCH_SIZE": 4,
                "TTA_SCALES": [],  # test-time scale ratios; [] for single scale
                "TTA_FLIP": False,
            },
        },
        # The data pipeline of ctxseg's YAML configs (see ctxseg.config.yaml_config).
        "INPUT": {
            "BASE_SCALE": [2048, 512],  # (long, short) side of the keep-ratio resize, train and test
            "RATIO_RANGE": [0.5, 2.0],  # training resize ratios of BASE_SCALE
            "TEST_SIZE_DIVISOR": 0,  # > 0: resize test images to multiples of it (Context Cluster)
        },
        "SOLVER": {
            "OPTIMIZER": "ADAMW",  # ADAMW | SGD (Mask2Former's key)
            # Parameter groups by name: [[substring, lr_mult, decay_mult], ...]; the longest matching
            # substring decides (MMCV's custom_keys rule, ctxseg.engine.param_groups_by_name).
            "PARAM_GROUPS": [],
            "POLY_LR_POWER": 0.9,
            "POLY_LR_MIN_VALUE": 0.0,  # floor of the poly decay, as a fraction of the base lr
            "AMP": {"DTYPE": "bf16"},  # bf16 | fp16
        },
    })


def _add_missing(cfg, defaults):
    for key, value in defaults.items():
        if key not in cfg:
            cfg[key] = value
        elif isinstance(value, CN) and isinstance(cfg[key], CN):
            _add_missing(cfg[key], value)


def add_ctxseg_config(cfg: CN) -> CN:
    """Add ctxseg's keys (``MODEL.SWIN``, ``MODEL.COC``, ``MODEL.IIWA``, ``MODEL.SEGMENTOR``, ...) that ``cfg``
    lacks; return it.

    Keys already present keep their values, so calling it twice, or after another project's function that
    defines some of the same keys, is safe.
    """
    _add_missing(cfg, ctxseg_defaults())
    return cfg
