"""Swin Transformer backbone (Liu et al., 2021) for dense prediction, as a Detectron2 ``Backbone``.

Channel-last (B, H, W, C) inside, NCHW at the edges. Parameter names follow the official Microsoft
release (the merge after stage i lives at ``layers.{i}.downsample``) so its checkpoints map 1:1; the
output norms ``norm0..norm3`` are new. Segmentation behaviour, as in MMSegmentation and Mask2Former:
the window size never shrinks and odd blocks always shift, whatever the feature size. A merge with
stride 1 (IIWA's dilated layout, ``strides=(4, 2, 1, 1)``) keeps the resolution.
"""
import math
from typing import Dict, NamedTuple, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from timm.layers import DropPath, trunc_normal_

from ctxseg.layers import init_linear_and_layernorm, pad_to_multiple, window_partition
from ctxseg.layers.attention import relative_position_bias, relative_position_index, self_attention
from ctxseg.layers.linear import Linear
from ctxseg.layers.mlp import Mlp
from ctxseg.layers.residual import add_residual
from ctxseg.layers.window import permute_tokens, shifted_window_order, shifted_window_position
from ctxseg.utils.checks import check_positive
from ctxseg.utils.errors import ConfigError

__all__ = ["WindowAttention", "SwinBlock", "PatchMerging", "PatchEmbed", "SwinStage", "D2SwinTransformer",
           "relative_position_index", "shifted_window_mask", "SWIN_SIZES", "swin_tiny", "swin_small",
           "swin_base", "swin_large"]


def shifted_window_mask(height, width, window_size, shift, device=None):
    """Additive attention mask (num_windows, N, N) for a rolled (height, width) map: -100 across regions."""
    # Rows (and columns) fall in three bands: [0, -window), [-window, -shift), [-shift, end); a region is a
    # pair of bands. Computed from comparisons rather than slice assignments, which exports to ONNX get wrong
    # for sizes other than the traced one.
    def bands(size):
        index = torch.arange(size, device=device)
        return (index >= size - window_size).long() + (index >= size - shift).long()

    regions = (bands(height)[:, None] * 3 + bands(width)[None, :]).float()[None, :, :, None]
    regions = window_partition(regions, window_size).reshape(-1, window_size * window_size)
    different = regions[:, None, :] != regions[:, :, None]
    return torch.zeros(different.shape, device=device).masked_fill(different, -100.0)


class WindowLayout(NamedTuple):
    """How a block cuts its map, padded to window multiples, into windows.

    ``order`` (Hp * Wp) lists, window after window, where each token comes from in the flattened padded
    map (the roll of a shifted block included); ``inverse`` puts the tokens back; ``mask`` is the
    shifted-window mask (num_windows, N, N), or None for a block that does not shift.
    """
    order: torch.Tensor
    inverse: torch.Tensor
    mask: Optional[torch.Tensor]


def window_layout(height, width, window_size, shift, device=None):
    """The :class:`WindowLayout` of a (height, width) map: padded bottom/right, then rolled by -shift."""
    # Integer arithmetic on non-negative numbers: tracing records it, torch.export can save it (not math.ceil),
    # and ONNX's integer division (which truncates) agrees with Python's floor division.
    hp = (height + window_size - 1) // window_size * window_size
    wp = (width + window_size - 1) // window_size * window_size
    order = shifted_window_order(hp, wp, window_size, shift, device=device)
    inverse = shifted_window_position(hp, wp, window_size, shift, device=device)
    mask = shifted_window_mask(hp, wp, window_size, shift, device=device) if shift else None
    return WindowLayout(order, inverse, mask)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside square windows, with a learned relative position bias."""

    def __init__(self, dim, num_heads, window_size):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"WindowAttention: dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.window_size = window_size
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window_size), persistent=False)
        self.qkv = Linear(dim, dim * 3)
        self.proj = Linear(dim, dim)
        trunc_normal_(self.relative_position_bias_table, std=0.02)

    def relative_position_bias(self):
        """The bias (num_heads, N, N) added to the attention logits."""
        return relative_position_bias(self.relative_position_bias_table, self.relative_position_index)

    def forward(self, x, mask=None):
        """x: (B * num_windows, N, C), the windows of each image together; mask: (num_windows, N, N) or None."""
        bias = self.relative_position_bias()[None]
        if mask is not None:
            # One (B * num_windows, heads, N, N) mask: the CPU flash kernel takes 4-D masks only.
            bias = (bias + mask[:, None]).repeat(x.shape[0] // mask.shape[0], 1, 1, 1)
        return self.proj(self_attention(x, self.qkv, self.num_heads, self.scale, bias))


class SwinBlock(nn.Module):
    """Pre-norm (shifted) window attention then a pre-norm MLP, each on a residual with DropPath."""

    def __init__(self, dim, num_heads, window_size, shift, mlp_ratio=4.0, drop_path=0.0):
        super().__init__()
        self.window_size = window_size
        self.shift = shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads, window_size)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, hidden_features=int(dim * mlp_ratio), act_layer=nn.GELU)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x, layout=None):
        """x: (B, H, W, C); layout: this block's :func:`window_layout` for (H, W), shared by a stage's blocks."""
        b, h, w, c = x.shape
        if layout is None:
            layout = window_layout(h, w, self.window_size, self.shift, device=x.device)
        # Pad first, then roll (what MMSegmentation and Mask2Former shift): the layout's order does both and
        # the window partition in one gather, and its inverse undoes them in one more.
        y = pad_to_multiple(self.norm1(x), self.window_size)
        hp, wp = y.shape[1:3]
        windows = permute_tokens(y.reshape(b, hp * wp, c), layout.order, layout.inverse)
        windows = self.attn(windows.view(-1, self.window_size * self.window_size, c), layout.mask)
        y = permute_tokens(windows.view(b, hp * wp, c), layout.inverse, layout.order).view(b, hp, wp, c)
        x = add_residual(x, y[:, :h, :w], self.drop_path)
        return add_residual(x, self.mlp(self.norm2(x)), self.drop_path)


class PatchMerging(nn.Module):
    """Concatenate each 2x2 neighbourhood, LayerNorm(4C), Linear(4C -> 2C); stride 2 halves the size, 1 keeps it."""

    def __init__(self, dim: int, stride: int = 2):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"PatchMerging: stride must be 1 or 2, got {stride}")
        self.stride = stride
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x):
        """(B, H, W, C) -> (B, ceil(H / stride), ceil(W / stride), 2C)."""
        # neighbour order (0,0), (1,0), (0,1), (1,1), row offset fastest: the official weights' layout
        if self.stride == 2:
            x = pad_to_multiple(x, 2)
            parts = [x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]]
        else:
            h, w = x.shape[1:3]
            x = F.pad(x, (0, 0, 0, 1, 0, 1))
            parts = [x[:, :h, :w], x[:, 1:, :w], x[:, :h, 1:], x[:, 1:, 1:]]
        return self.reduction(self.norm(torch.cat(parts, dim=-1)))


class PatchEmbed(nn.Module):
    """Zero-pad to a multiple of the patch size, Conv2d(k = s = patch), LayerNorm; NCHW in, NHWC out."""

    def __init__(self, patch_size=4, in_chans=3, embed_dim=96):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x):
        """(B, C_in, H, W) -> (B, ceil(H / p), ceil(W / p), E)."""
        x = self.proj(pad_to_multiple(x, self.patch_size, channels_last=False))
        return self.norm(x.permute(0, 2, 3, 1))


class SwinStage(nn.Module):
    """``depth`` Swin blocks (odd ones shifted), then an optional patch merging for the next stage."""

    def __init__(self, dim, depth, num_heads, window_size, mlp_ratio, drop_paths, merge_stride=None,
                 use_checkpoint=False):
        super().__init__()
        self.window_size = window_size
        self.shift = window_size // 2
        self.use_checkpoint = use_checkpoint
        self.blocks = nn.ModuleList([
            SwinBlock(dim, num_heads, window_size, self.shift if j % 2 else 0, mlp_ratio, drop_paths[j])
            for j in range(depth)
        ])
        self.downsample = PatchMerging(dim, merge_stride) if merge_stride is not None else None

    def forward(self, x):
        """(B, H, W, C) -> (the blocks' output, the merged map for the next stage or None)."""
        h, w = x.shape[1:3]
        layouts = {shift: window_layout(h, w, self.window_size, shift, device=x.device)
                   for shift in {block.shift for block in self.blocks}}
        for block in self.blocks:
            if self.use_checkpoint and self.training:
                x = torch.utils.checkpoint.checkpoint(block, x, layouts[block.shift], use_reentrant=False)
            else:
                x = block(x, layouts[block.shift])
        return x, (self.downsample(x) if self.downsample is not None else None)


# Mask2Former's MODEL.SWIN keys this Swin does not implement, with the only value it accepts.
_SWIN_FIXED_KEYS = {"QKV_BIAS": True, "QK_SCALE": None, "DROP_RATE": 0.0, "ATTN_DROP_RATE": 0.0, "APE": False,
                    "PATCH_NORM": True}


@BACKBONE_REGISTRY.register()
class D2SwinTransformer(Backbone):
    """Swin Transformer with outputs ``res2..res5`` (NCHW, each with its own LayerNorm) for Detectron2.

    Builds from keyword arguments (LazyConfig) or, through ``BACKBONE_REGISTRY``, from a yacs config with
    Mask2Former's ``MODEL.SWIN`` node (see :meth:`from_config`).
    """

    @configurable
    def __init__(self, *, embed_dim: int, depths: Sequence[int], num_heads: Sequence[int], window_size: int = 7,
                 mlp_ratio: float = 4.0, drop_path_rate: float = 0.0, strides: Sequence[int] = (4, 2, 2, 2),
                 out_features: Sequence[str] = ("res2", "res3", "res4", "res5"), frozen_stages: int = -1,
                 use_checkpoint: bool = False, patch_size: int = 4, in_chans: int = 3):
        """
        Args:
            embed_dim: channels E of stage 0; stage i has E * 2^i.
            depths, num_heads: blocks and attention heads per stage (4 stages).
            window_size: attention window side, fixed at every stage and feature size.
            mlp_ratio: MLP hidden width over the block width.
            drop_path_rate: the last block's stochastic depth rate; linear from 0 over all blocks.
            strides: the patch size, then the stride (2 or 1) of each patch merging.
            out_features: which of res2..res5 to return; the network stops at the last one.
            frozen_stages: -1 trains all; 0 freezes the patch embedding; k >= 1 also stages 0..k-1.
            use_checkpoint: recompute each block in the backward pass (saves memory in training).
            patch_size, in_chans: the patch embedding's kernel and input channels.
        """
        super().__init__()
        depths, num_heads, strides = tuple(depths), tuple(num_heads), tuple(strides)
        check_positive("D2SwinTransformer", embed_dim=embed_dim, num_heads=num_heads, window_size=window_size,
                       patch_size=patch_size, in_chans=in_chans)
        if len(depths) != 4 or len(num_heads) != 4 or len(strides) != 4:
            raise ValueError(f"D2SwinTransformer: depths, num_heads and strides need 4 entries each, got "
                             f"depths={depths}, num_heads={num_heads}, strides={strides}")
        if strides[0] != patch_size or any(s not in (1, 2) for s in strides[1:]):
            raise ValueError(f"D2SwinTransformer: strides must be (patch_size={patch_size}, then 1 or 2 for each "
                             f"merge), got {strides}")
        names = ("res2", "res3", "res4", "res5")
        unknown = [f for f in out_features if f not in names]
        if unknown or not out_features:
            raise ValueError(f"D2SwinTransformer: out_features must be a non-empty subset of {names}, "
                             f"got {tuple(out_features)}")
        if not -1 <= frozen_stages <= 4:
            raise ValueError(f"D2SwinTransformer: frozen_stages must be in -1..4, got {frozen_stages}")
        self._out_features = [f for f in names if f in out_features]
        num_stages = names.index(self._out_features[-1]) + 1
        self.frozen_stages = frozen_stages
        self.strides = strides

        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        num_blocks = sum(depths)
        drop_paths = [drop_path_rate * k / max(num_blocks - 1, 1) for k in range(num_blocks)]
        self.layers = nn.ModuleList()
        self._out_feature_channels, self._out_feature_strides = {}, {}
        stride = 1
        for i in range(num_stages):
            dim = embed_dim * 2 ** i
            stride *= strides[i]
            self.layers.append(SwinStage(
                dim, depths[i], num_heads[i], window_size, mlp_ratio,
                drop_paths[sum(depths[:i]):sum(depths[:i + 1])],
                merge_stride=strides[i + 1] if i + 1 < num_stages else None,
                use_checkpoint=use_checkpoint,
            ))
            if names[i] in self._out_features:
                self.add_module(f"norm{i}", nn.LayerNorm(dim))
                self._out_feature_channels[names[i]] = dim
                self._out_feature_strides[names[i]] = stride

        self.apply(init_linear_and_layernorm)
        self._freeze_stages()

    @classmethod
    def from_config(cls, cfg, input_shape=None):
        """Arguments from ``cfg.MODEL.SWIN`` (Mask2Former's keys; ``ctxseg.config.add_ctxseg_config`` adds them).

        ``STRIDES`` and ``FROZEN_STAGES`` are ctxseg's; a node without them (Mask2Former's own) gets the
        standard layout (patch size, 2, 2, 2) and no frozen stage. Keys this Swin does not implement must
        keep their default value (qkv bias on, no qk scale, no dropout, no absolute position embedding,
        a norm after the patch embedding); any other value is a ``ConfigError``.
        """
        if "SWIN" not in cfg.MODEL:
            raise ConfigError("D2SwinTransformer: the config has no MODEL.SWIN node; call "
                              "ctxseg.config.add_ctxseg_config(cfg) before merging the config file")
        swin = cfg.MODEL.SWIN
        for key, supported in _SWIN_FIXED_KEYS.items():
            if key in swin and swin[key] != supported:
                raise ConfigError(f"MODEL.SWIN.{key}={swin[key]!r} is not implemented by ctxseg's D2SwinTransformer "
                                  f"(only {supported!r})")
        patch_size = swin.get("PATCH_SIZE", 4)
        return dict(embed_dim=swin.EMBED_DIM, depths=swin.DEPTHS, num_heads=swin.NUM_HEADS,
                    window_size=swin.WINDOW_SIZE, mlp_ratio=swin.MLP_RATIO, drop_path_rate=swin.DROP_PATH_RATE,
                    strides=swin.get("STRIDES", (patch_size, 2, 2, 2)), out_features=swin.OUT_FEATURES,
                    frozen_stages=swin.get("FROZEN_STAGES", -1), use_checkpoint=swin.USE_CHECKPOINT,
                    patch_size=patch_size,
                    in_chans=len(cfg.MODEL.PIXEL_MEAN) if input_shape is None else input_shape.channels)

    def _frozen_modules(self):
        if self.frozen_stages < 0:
            return []
        modules = [self.patch_embed]
        for i in range(min(self.frozen_stages, len(self.layers))):
            modules.append(self.layers[i])
            if hasattr(self, f"norm{i}"):
                modules.append(getattr(self, f"norm{i}"))
        return modules

    def _freeze_stages(self):
        for module in self._frozen_modules():
            module.eval()
            for p in module.parameters():
                p.requires_grad = False

    def train(self, mode=True):
        """Switch train/eval mode; frozen parts stay in eval mode (no stochastic depth there)."""
        super().train(mode)
        for module in self._frozen_modules():
            module.eval()
        return self

    @property
    def size_divisibility(self) -> int:
        """32 (the total stride) for the standard layout; 0 when a merge has stride 1."""
        return math.prod(self.strides) if all(s == 2 for s in self.strides[1:]) else 0

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """(B, C, H, W) image -> {"res2".. "res5": (B, C_i, H_i, W_i)} for the requested features."""
        if x.dim() != 4:
            raise ValueError(f"D2SwinTransformer takes a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
        outputs = {}
        x = self.patch_embed(x)
        for i, stage in enumerate(self.layers):
            features, x = stage(x)
            name = f"res{i + 2}"
            if name in self._out_features:
                # NCHW in shape, channels-last in memory (as computed): the IIWA neck and decoder read the
                # maps channel-last again and convolutions take either layout, so no copy is made.
                outputs[name] = getattr(self, f"norm{i}")(features).permute(0, 3, 1, 2)
        return outputs

    def output_shape(self) -> Dict[str, ShapeSpec]:
        """Channels and stride of each returned feature."""
        return {
            name: ShapeSpec(channels=self._out_feature_channels[name], stride=self._out_feature_strides[name])
            for name in self._out_features
        }


# The four published sizes: channels of stage 0 (doubling per stage), blocks and heads per stage. The named
# constructors below and the LazyConfig pieces (configs/common/models/swin.py) both read this table.
SWIN_SIZES = {
    "tiny": dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24)),
    "small": dict(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24)),
    "base": dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32)),
    "large": dict(embed_dim=192, depths=(2, 2, 18, 2), num_heads=(6, 12, 24, 48)),
}


def swin_tiny(**kwargs) -> D2SwinTransformer:
    """Swin-T (``SWIN_SIZES["tiny"]``); other arguments as :class:`D2SwinTransformer`."""
    return D2SwinTransformer(**SWIN_SIZES["tiny"], **kwargs)


def swin_small(**kwargs) -> D2SwinTransformer:
    """Swin-S (``SWIN_SIZES["small"]``); other arguments as :class:`D2SwinTransformer`."""
    return D2SwinTransformer(**SWIN_SIZES["small"], **kwargs)


def swin_base(**kwargs) -> D2SwinTransformer:
    """Swin-B (``SWIN_SIZES["base"]``); pass window_size=12 for the 384 checkpoints."""
    return D2SwinTransformer(**SWIN_SIZES["base"], **kwargs)


def swin_large(**kwargs) -> D2SwinTransformer:
    """Swin-L (``SWIN_SIZES["large"]``); pass window_size=12 for the 384 checkpoints."""
    return D2SwinTransformer(**SWIN_SIZES["large"], **kwargs)
