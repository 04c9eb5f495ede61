"""Swin Transformer checkpoints (official Microsoft, timm, MMSegmentation) -> ``D2SwinTransformer`` keys.

Every format is first brought to the official key layout (the merge after stage i at
``layers.{i}.downsample``, merge weights in the official neighbour order), then checked against a
``D2SwinTransformer`` built with the dimensions read from the checkpoint, and finally prefixed.
"""
import math
import re
from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F

from ctxseg.modeling.backbone.swin import D2SwinTransformer

from .convert import ConversionResult, register_converter

__all__ = ["detect_swin_format", "resize_relative_position_table", "convert_swin", "SWIN_FORMATS"]

SWIN_FORMATS = ("official", "timm", "mmseg")

# buffers recomputed by the model, never loaded
_BUFFERS = ("relative_position_index", "attn_mask")

# unfold (channel-major) position order (0,0),(0,1),(1,0),(1,1) <-> official (0,0),(1,0),(0,1),(1,1)
_UNFOLD_TO_OFFICIAL = [0, 2, 1, 3]


def _state_dict_of(checkpoint):
    if not isinstance(checkpoint, dict):
        raise ValueError(f"a Swin checkpoint must be a dict of tensors, got a {type(checkpoint).__name__}")
    for wrapper in ("model", "state_dict"):
        if isinstance(checkpoint.get(wrapper), dict):
            return checkpoint[wrapper]
    return checkpoint


def detect_swin_format(state_dict: Dict[str, torch.Tensor]) -> Optional[str]:
    """'official', 'timm' or 'mmseg' for a Swin state dict, None if it is not one."""
    keys = set(state_dict)
    if "patch_embed.projection.weight" in keys or "backbone.patch_embed.projection.weight" in keys:
        if any(k.startswith(("stages.", "backbone.stages.")) for k in keys):
            return "mmseg"
    if "patch_embed.proj.weight" in keys and any(k.endswith("relative_position_bias_table") for k in keys):
        if "layers.0.downsample.reduction.weight" in keys:
            return "official"
        if "layers.1.downsample.reduction.weight" in keys:
            return "timm"
    return None


def _from_official(state_dict):
    return dict(state_dict), []


def _from_timm(state_dict):
    # timm stores the merge that ends stage i at the start of stage i + 1
    renamed = {re.sub(r"^layers\.(\d+)\.downsample\.", lambda m: f"layers.{int(m.group(1)) - 1}.downsample.", k): v
               for k, v in state_dict.items()}
    return renamed, []


def _unfold_to_official_order(tensor):
    """Reorder the last (4C) axis of a merge weight from channel-major unfold order to the official one."""
    *lead, four_c = tensor.shape
    channels = four_c // 4
    tensor = tensor.reshape(*lead, channels, 4)[..., _UNFOLD_TO_OFFICIAL]
    return tensor.transpose(-1, -2).reshape(*lead, four_c)


def _from_mmseg(state_dict):
    renames = [
        (r"^patch_embed\.projection\.", "patch_embed.proj."),
        (r"^stages\.", "layers."),
        (r"\.attn\.w_msa\.", ".attn."),
        (r"\.ffn\.layers\.0\.0\.", ".mlp.fc1."),
        (r"\.ffn\.layers\.1\.", ".mlp.fc2."),
    ]
    # a segmentation checkpoint holds the backbone under "backbone." next to its heads
    in_model = any(k.startswith("backbone.") for k in state_dict)
    out, unused = {}, []
    for key, value in state_dict.items():
        if in_model:
            if not key.startswith("backbone."):
                unused.append(key)
                continue
            key = key[len("backbone."):]
        for pattern, replacement in renames:
            key = re.sub(pattern, replacement, key)
        if re.match(r"^layers\.\d+\.downsample\.(reduction\.weight|norm\.weight|norm\.bias)$", key):
            value = _unfold_to_official_order(value)
        out[key] = value
    return out, unused


_TO_OFFICIAL = {"official": _from_official, "timm": _from_timm, "mmseg": _from_mmseg}


def _window_of_table(table):
    side = math.isqrt(table.shape[0])
    if side * side != table.shape[0] or side % 2 == 0:
        raise ValueError(f"relative position table with {table.shape[0]} rows is not (2w-1)^2 for a window w")
    return (side + 1) // 2


def resize_relative_position_table(table: torch.Tensor, window_size: int) -> torch.Tensor:
    """Resize a ((2w-1)², heads) table to another window size: bicubic, per head, on its (2w-1)² grid."""
    old_side = 2 * _window_of_table(table) - 1
    new_side = 2 * window_size - 1
    if old_side == new_side:
        return table
    heads = table.shape[1]
    grid = table.float().t().reshape(1, heads, old_side, old_side)
    grid = F.interpolate(grid, size=(new_side, new_side), mode="bicubic", align_corners=False)
    return grid.reshape(heads, new_side * new_side).t().contiguous().to(table.dtype)


def _infer_architecture(state_dict):
    """The D2SwinTransformer arguments that fit an official-layout state dict."""
    proj = state_dict["patch_embed.proj.weight"]
    embed_dim, in_chans, patch_size = proj.shape[0], proj.shape[1], proj.shape[2]
    depths, num_heads = [], []
    for i in range(4):
        table_key = f"layers.{i}.blocks.0.attn.relative_position_bias_table"
        if table_key not in state_dict:
            raise ValueError(f"Swin checkpoint has no blocks for stage {i} (no key '{table_key}'); ctxseg's Swin "
                             "has 4 stages")
        depth = 1
        while f"layers.{i}.blocks.{depth}.norm1.weight" in state_dict:
            depth += 1
        depths.append(depth)
        num_heads.append(state_dict[table_key].shape[1])
    window_size = _window_of_table(state_dict["layers.0.blocks.0.attn.relative_position_bias_table"])
    mlp_ratio = state_dict["layers.0.blocks.0.mlp.fc1.weight"].shape[0] / embed_dim
    return dict(embed_dim=embed_dim, depths=tuple(depths), num_heads=tuple(num_heads), window_size=window_size,
                mlp_ratio=mlp_ratio, patch_size=patch_size, in_chans=in_chans, strides=(patch_size, 2, 2, 2))


def convert_swin(checkpoint: Dict[str, Any], source: str, prefix: str = "backbone.bottom_up.",
                 window_size: Optional[int] = None, **options: Any) -> ConversionResult:
    """Convert a Swin checkpoint of format ``source`` ('official', 'timm' or 'mmseg') to ctxseg keys."""
    if options:
        raise TypeError(f"the swin-{source} converter takes the options prefix and window_size, "
                        f"not {sorted(options)}")
    if source not in SWIN_FORMATS:
        raise ValueError(f"unknown Swin checkpoint format '{source}'; choose one of {SWIN_FORMATS}")
    state_dict = _state_dict_of(checkpoint)
    found = detect_swin_format(state_dict)
    if found is None:
        sample = ", ".join(list(state_dict)[:5]) or "(no keys)"
        raise ValueError(
            "this is not a Swin Transformer checkpoint: expected keys such as 'patch_embed.proj.weight' and "
            "'layers.0.blocks.0.attn.relative_position_bias_table' (official / timm) or "
            f"'stages.0.blocks.0.attn.w_msa.qkv.weight' (mmseg); its first keys are: {sample}")
    if found != source:
        raise ValueError(f"this Swin checkpoint is in {found} format, not {source}: convert it with "
                         f"--source swin-{found}")

    state_dict, unused = _TO_OFFICIAL[found](state_dict)
    dropped = [k for k, v in state_dict.items() if not torch.is_tensor(v) or k.endswith(_BUFFERS)]
    unused += dropped
    state_dict = {k: v for k, v in state_dict.items() if k not in set(dropped)}

    arch = _infer_architecture(state_dict)
    notes = [f"{found} Swin: embed_dim={arch['embed_dim']}, depths={arch['depths']}, "
             f"num_heads={arch['num_heads']}, window_size={arch['window_size']}"]
    if window_size is not None and window_size != arch["window_size"]:
        for key in [k for k in state_dict if k.endswith("relative_position_bias_table")]:
            state_dict[key] = resize_relative_position_table(state_dict[key], window_size)
        notes.append(f"resized relative position tables bicubically from window {arch['window_size']} "
                     f"to {window_size}")
        arch["window_size"] = window_size

    with torch.device("meta"):
        expected = D2SwinTransformer(**arch).state_dict()
    unused += [k for k in state_dict if k not in expected]  # e.g. the final norm and the classifier
    missing = sorted(k for k in expected if k not in state_dict)
    converted = {}
    for key in (k for k in state_dict if k in expected):
        if state_dict[key].shape != expected[key].shape:
            notes.append(f"shape of '{key}' is {tuple(state_dict[key].shape)}, the model expects "
                         f"{tuple(expected[key].shape)}")
        converted[prefix + key] = state_dict[key]
    return ConversionResult(converted, unused_keys=sorted(unused), missing_keys=[prefix + k for k in missing],
                            notes=notes)


@register_converter("swin-official")
def convert_swin_official(checkpoint: Dict[str, Any], prefix: str = "backbone.bottom_up.",
                          window_size: Optional[int] = None, **kwargs: Any) -> ConversionResult:
    """Official Microsoft Swin checkpoint (``{"model": ...}``) -> D2SwinTransformer keys under ``prefix``."""
    return convert_swin(checkpoint, "official", prefix=prefix, window_size=window_size, **kwargs)


@register_converter("swin-timm")
def convert_swin_timm(checkpoint: Dict[str, Any], prefix: str = "backbone.bottom_up.",
                      window_size: Optional[int] = None, **kwargs: Any) -> ConversionResult:
    """timm Swin state dict -> D2SwinTransformer keys under ``prefix``."""
    return convert_swin(checkpoint, "timm", prefix=prefix, window_size=window_size, **kwargs)


@register_converter("swin-mmseg")
def convert_swin_mmseg(checkpoint: Dict[str, Any], prefix: str = "backbone.bottom_up.",
                       window_size: Optional[int] = None, **kwargs: Any) -> ConversionResult:
    """MMSegmentation Swin (pretrain or segmentation checkpoint's backbone) -> D2SwinTransformer keys."""
    return convert_swin(checkpoint, "mmseg", prefix=prefix, window_size=window_size, **kwargs)
