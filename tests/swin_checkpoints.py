"""Test helpers: Swin checkpoints in the official and MMSegmentation layouts, made from a timm model.

Written from the published checkpoint layouts (official, timm, mmseg), independently of ``ctxseg.checkpoint.swin``.
"""
import re

import torch
from timm.models.swin_transformer import SwinTransformer

# a small timm Swin for the converter tests: 4 stages, window 7, every stage with 2 blocks
TINY_TIMM = dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), window_size=7, num_classes=10)
TINY_ARCH = dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), window_size=7)


def tiny_timm_swin(seed=0):
    """A small random timm Swin (with classifier and final norm, as the real checkpoints have)."""
    torch.manual_seed(seed)
    return SwinTransformer(img_size=224, **TINY_TIMM).eval()


def timm_to_official(timm_state):
    """timm's state dict -> the official Microsoft checkpoint ``{"model": ...}``, with its buffers."""
    official = {}
    for key, value in timm_state.items():
        key = re.sub(r"^layers\.(\d+)\.downsample\.", lambda m: f"layers.{int(m.group(1)) - 1}.downsample.", key)
        key = key.replace("head.fc.", "head.")
        official[key] = value.clone()
    # the official release stores these buffers; converters must drop them
    official["layers.0.blocks.0.attn.relative_position_index"] = torch.zeros(49, 49, dtype=torch.long)
    official["layers.0.blocks.1.attn_mask"] = torch.zeros(64, 49, 49)
    return {"model": official}


def _official_to_unfold_order(tensor):
    # official 4C = 4 blocks of C in position order (0,0),(1,0),(0,1),(1,1); unfold = C groups of
    # 4 positions in order (0,0),(0,1),(1,0),(1,1)
    *lead, four_c = tensor.shape
    blocks = tensor.reshape(*lead, 4, four_c // 4)[..., [0, 2, 1, 3], :]
    return blocks.transpose(-1, -2).reshape(*lead, four_c)


def official_to_mmseg(official_state, output_norms=None, segmentor=True):
    """Official state dict -> an MMSegmentation Swin state dict (``backbone.`` keys in a segmentor)."""
    mmseg = {}
    for key, value in official_state.items():
        if key.startswith(("head.", "norm.")) or key.endswith(("relative_position_index", "attn_mask")):
            continue
        if re.match(r"^layers\.\d+\.downsample\.", key):
            value = _official_to_unfold_order(value)
        key = key.replace("patch_embed.proj.", "patch_embed.projection.")
        key = re.sub(r"^layers\.", "stages.", key)
        key = key.replace(".attn.", ".attn.w_msa.")
        key = key.replace(".mlp.fc1.", ".ffn.layers.0.0.").replace(".mlp.fc2.", ".ffn.layers.1.")
        mmseg[key] = value.clone()
    for key, value in (output_norms or {}).items():
        mmseg[key] = value.clone()
    if not segmentor:
        return mmseg
    state = {f"backbone.{k}": v for k, v in mmseg.items()}
    state["decode_head.conv_seg.weight"] = torch.zeros(19, 512, 1, 1)
    return {"state_dict": state, "meta": {"iter": 160000}}
