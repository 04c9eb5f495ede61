"""Context Cluster (CoC, "Image as Set of Points") dense backbone for Detectron2.

The network keeps the authors' module and parameter names (``patch_embed.proj``, ``network.{0..6}``,
``norm0/2/4/6``, per block ``layer_scale_1/2``, ``norm1/2``, ``token_mixer.{f,v,proj,sim_alpha,sim_beta}``,
``mlp.fc1/fc2`` as Linear), so the official "feat" state dicts load with ``strict=True`` into
``ContextCluster`` and ``D2ContextCluster`` directly, with no prefix.

Variants ("-4/-25/-49" = proposal centres per region: 2x2, 5x5, 7x7; the regions are always 8x8, 4x4,
2x2 and 1x1 tiles in stages 1-4):

    coc_small(proposals=4 | 25 | 49, **kwargs)    depths 2,2,6,2   heads 4,4,8,8     14,145,048 params
    coc_medium(proposals=4 | 25 | 49, **kwargs)   depths 4,4,12,4  heads 6,6,12,12   28,778,544 params
"""
import math
from typing import Dict, List, Sequence, Union

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from einops import rearrange
from timm.layers import DropPath, trunc_normal_
from torch import nn

from ctxseg.layers.mlp import Mlp
from ctxseg.utils.errors import ConfigError

__all__ = ["Cluster", "ContextClusterBlock", "PointReducer", "ContextCluster", "D2ContextCluster",
           "coc_small", "coc_medium", "variant_kwargs", "COC_ARCHS", "PROPOSAL_SIDES"]

# Architecture settings of the dense ("feat") variants; proposal_size is added per variant.
COC_ARCHS = {
    "small": dict(depths=(2, 2, 6, 2), embed_dims=(64, 128, 320, 512), mlp_ratios=(8, 8, 4, 4),
                  heads=(4, 4, 8, 8), head_dim=32, fold=(8, 4, 2, 1)),
    "medium": dict(depths=(4, 4, 12, 4), embed_dims=(64, 128, 320, 512), mlp_ratios=(8, 8, 4, 4),
                   heads=(6, 6, 12, 12), head_dim=32, fold=(8, 4, 2, 1)),
}
# "-4/-25/-49" (centres per region) -> proposal grid side.
PROPOSAL_SIDES = {4: 2, 25: 5, 49: 7}
AGG_NORMS = ("sim", "count")


def variant_kwargs(size, proposals):
    """Constructor arguments of CoC-<size>-<proposals> (size "small"/"medium", proposals 4/25/49)."""
    if size not in COC_ARCHS:
        raise ValueError(f"Context Cluster size must be one of {sorted(COC_ARCHS)}, got '{size}'")
    if proposals not in PROPOSAL_SIDES:
        raise ValueError(f"Context Cluster proposals (centres per region) must be one of "
                         f"{sorted(PROPOSAL_SIDES)}, got {proposals}")
    return dict(COC_ARCHS[size], proposal_size=PROPOSAL_SIDES[proposals])


def _per_stage(value, name, num_stages=4):
    """Expand a number to one value per stage, or check a sequence has one value per stage."""
    if isinstance(value, (int, float)):
        return (value,) * num_stages
    value = tuple(value)
    if len(value) != num_stages:
        raise ValueError(f"ContextCluster: '{name}' needs {num_stages} values (one per stage), got {value}")
    return value


def _pooling_weights(size, bins, like):
    """(bins, size) weights averaging each of PyTorch's adaptive pooling bins [floor(i s / n), ceil((i + 1) s / n))."""
    index = torch.arange(size, device=like.device)
    bin_index = torch.arange(bins, device=like.device)[:, None]
    inside = (index >= bin_index * size // bins) & (index < ((bin_index + 1) * size + bins - 1) // bins)
    inside = inside.to(like.dtype)
    return inside / inside.sum(dim=1, keepdim=True)


def adaptive_avg_pool(x, bins):
    """``F.adaptive_avg_pool2d(x, bins)`` of a [..., H, W] map as two matrix products.

    The same bins, written so that exports stay right at every size: ONNX's converter of adaptive pooling
    fixes the bins of the traced input, and gives wrong centres (or fails) on other sizes.
    """
    rows = _pooling_weights(x.shape[-2], bins, x)
    cols = _pooling_weights(x.shape[-1], bins, x)
    return rows @ x @ cols.transpose(0, 1)


class Cluster(nn.Module):
    """Context Cluster token mixer: cluster points around pooled centres, aggregate, dispatch back.

    Written with batched matmuls (no [B', M, N, d] temporaries). ``agg_norm`` selects the aggregation
    normaliser: "sim" (1 + sum of kept similarities, current code) or "count" (1 + number of assigned
    points, the first release, which the authors' ADE20K checkpoints were trained with).
    """

    def __init__(self, dim: int, heads: int = 4, head_dim: int = 24, proposal_size: int = 2, fold: int = 1,
                 agg_norm: str = "sim"):
        super().__init__()
        if agg_norm not in AGG_NORMS:
            raise ValueError(f"Cluster: agg_norm must be one of {AGG_NORMS}, got '{agg_norm}'")
        self.heads = heads
        self.proposal_size = proposal_size
        self.fold = fold
        self.agg_norm = agg_norm
        inner = heads * head_dim
        self.f = nn.Conv2d(dim, inner, 1)
        self.v = nn.Conv2d(dim, inner, 1)
        self.proj = nn.Conv2d(inner, dim, 1)
        self.sim_alpha = nn.Parameter(torch.ones(1))
        self.sim_beta = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        """[B, C, H, W] -> [B, C, H, W]; H and W must be multiples of ``fold``."""
        height, width = x.shape[-2:]
        fold = self.fold
        if height % fold or width % fold:
            raise ValueError(f"Cluster: a {height}x{width} map cannot be split into {fold}x{fold} equal "
                             "regions; its height and width must be multiples of the fold")
        # Heads are head-major in the channel axis; regions are stacked into the batch, row-major.
        split = "b (e d) (fh h) (fw w) -> (b e fh fw) d h w"
        feats = rearrange(self.f(x), split, e=self.heads, fh=fold, fw=fold)
        values = rearrange(self.v(x), split, e=self.heads, fh=fold, fw=fold)
        region_h, region_w = feats.shape[-2:]

        centers = adaptive_avg_pool(feats, self.proposal_size).flatten(2).transpose(1, 2)  # [B', M, d]
        value_centers = adaptive_avg_pool(values, self.proposal_size).flatten(2).transpose(1, 2)
        points = feats.flatten(2).transpose(1, 2)  # [B', N, d]
        values = values.flatten(2).transpose(1, 2)

        cos = F.normalize(centers, dim=-1) @ F.normalize(points, dim=-1).transpose(1, 2)  # [B', M, N]
        sim = torch.sigmoid(self.sim_beta + self.sim_alpha * cos)
        best, assigned = sim.max(dim=1, keepdim=True)
        # Hard assignment: each point keeps only the similarity to its own centre.
        sim = torch.zeros_like(sim).scatter_(1, assigned, best)
        if self.agg_norm == "sim":
            norm = sim.sum(dim=-1, keepdim=True)
        else:
            norm = torch.zeros_like(sim).scatter_(1, assigned, 1.0).sum(dim=-1, keepdim=True)
        aggregated = (sim @ values + value_centers) / (norm + 1.0)  # [B', M, d]
        out = sim.transpose(1, 2) @ aggregated  # [B', N, d]

        out = rearrange(out, "(b e fh fw) (h w) d -> b (e d) (fh h) (fw w)",
                        e=self.heads, fh=fold, fw=fold, h=region_h, w=region_w)
        return self.proj(out)


class ContextClusterBlock(nn.Module):
    """Pre-norm block: x + ls1 * Cluster(GN(x)), then x + ls2 * MLP(GN(x)), with drop path."""

    def __init__(self, dim: int, mlp_ratio: float = 4.0, heads: int = 4, head_dim: int = 24, proposal_size: int = 2,
                 fold: int = 1, agg_norm: str = "sim", drop_path: float = 0.0, layer_scale_init: float = 1e-5):
        super().__init__()
        self.norm1 = nn.GroupNorm(1, dim)
        self.token_mixer = Cluster(dim, heads=heads, head_dim=head_dim, proposal_size=proposal_size,
                                   fold=fold, agg_norm=agg_norm)
        self.norm2 = nn.GroupNorm(1, dim)
        self.mlp = Mlp(dim, hidden_features=int(dim * mlp_ratio), act_layer=nn.GELU)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.layer_scale_1 = nn.Parameter(layer_scale_init * torch.ones(dim))
        self.layer_scale_2 = nn.Parameter(layer_scale_init * torch.ones(dim))

    def forward(self, x):
        """[B, C, H, W] -> [B, C, H, W]."""
        x = x + self.drop_path(self.layer_scale_1[:, None, None] * self.token_mixer(self.norm1(x)))
        mlp = self.mlp(self.norm2(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # Linear on channels-last
        x = x + self.drop_path(self.layer_scale_2[:, None, None] * mlp)
        return x


class PointReducer(nn.Module):
    """Strided convolution that merges neighbouring points (the stem and the between-stage reducers)."""

    def __init__(self, in_chans: int, embed_dim: int, kernel_size: int, stride: int, padding: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size, stride=stride, padding=padding)

    def forward(self, x):
        """[B, C_in, H, W] -> [B, C_out, H', W']."""
        return self.proj(x)


class ContextCluster(nn.Module):
    """The dense CoC network: image [B, 3, H, W] -> 4 GroupNorm-ed maps at strides 4, 8, 16, 32.

    Two position channels (row, column in [-0.5, 0.5] over the input size) are appended to the image
    inside the network, so the output depends on the padded size the network sees.
    """

    def __init__(
        self,
        *,
        depths: Sequence[int] = (2, 2, 6, 2),
        embed_dims: Sequence[int] = (64, 128, 320, 512),
        mlp_ratios: Union[float, Sequence[float]] = (8, 8, 4, 4),
        heads: Union[int, Sequence[int]] = (4, 4, 8, 8),
        head_dim: Union[int, Sequence[int]] = 32,
        proposal_size: Union[int, Sequence[int]] = 2,
        fold: Union[int, Sequence[int]] = (8, 4, 2, 1),
        agg_norm: str = "sim",
        drop_path_rate: float = 0.0,
        layer_scale_init: float = 1e-5,
    ):
        super().__init__()
        depths = _per_stage(depths, "depths")
        embed_dims = _per_stage(embed_dims, "embed_dims")
        mlp_ratios = _per_stage(mlp_ratios, "mlp_ratios")
        heads = _per_stage(heads, "heads")
        head_dim = _per_stage(head_dim, "head_dim")
        proposal_size = _per_stage(proposal_size, "proposal_size")
        self.fold = _per_stage(fold, "fold")
        if agg_norm not in AGG_NORMS:
            raise ValueError(f"ContextCluster: agg_norm must be one of {AGG_NORMS}, got '{agg_norm}'")
        self.embed_dims = embed_dims
        self.strides = (4, 8, 16, 32)

        self.patch_embed = PointReducer(5, embed_dims[0], kernel_size=4, stride=4, padding=0)
        total_blocks = sum(depths)
        network = []
        for i, depth in enumerate(depths):
            first = sum(depths[:i])
            blocks = [
                ContextClusterBlock(
                    embed_dims[i], mlp_ratio=mlp_ratios[i], heads=heads[i], head_dim=head_dim[i],
                    proposal_size=proposal_size[i], fold=self.fold[i], agg_norm=agg_norm,
                    drop_path=drop_path_rate * (first + j) / max(total_blocks - 1, 1),
                    layer_scale_init=layer_scale_init,
                )
                for j in range(depth)
            ]
            network.append(nn.Sequential(*blocks))
            if i < len(depths) - 1:
                network.append(PointReducer(embed_dims[i], embed_dims[i + 1], kernel_size=3, stride=2, padding=1))
        self.network = nn.ModuleList(network)
        for i in range(len(depths)):
            self.add_module(f"norm{2 * i}", nn.GroupNorm(1, embed_dims[i]))
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    @property
    def required_divisor(self):
        """H and W must be multiples of this (each stage's map must split into its fold x fold regions)."""
        divisor = self.strides[-1]
        for stride, fold in zip(self.strides, self.fold):
            if fold > 1:
                divisor = math.lcm(divisor, stride * fold)
        return divisor

    def check_input_size(self, height, width):
        """Raise a ValueError naming the sizes if an HxW input cannot be split into the stage regions."""
        divisor = self.required_divisor
        size_h, size_w = height // 4, width // 4
        for i, fold in enumerate(self.fold):
            if i > 0:
                size_h, size_w = (size_h + 1) // 2, (size_w + 1) // 2
            if fold > 1 and (size_h % fold or size_w % fold):
                padded_h, padded_w = -(-height // divisor) * divisor, -(-width // divisor) * divisor
                raise ValueError(
                    f"ContextCluster: input size {height}x{width} gives a {size_h}x{size_w} map in stage {i + 1}, "
                    f"which cannot be split into {fold}x{fold} equal regions. Input height and width must be "
                    f"multiples of {divisor}: pad or resize the image (e.g. to {padded_h}x{padded_w})."
                )

    @staticmethod
    def position_channels(x):
        """[B, 2, H, W] row and column coordinates in [-0.5, 0.5], built on x's device."""
        batch, _, height, width = x.shape
        # Computed in float32 like the authors' code (then cast), so float64 runs match it bit for bit.
        rows = torch.arange(height, device=x.device, dtype=torch.float32) / (height - 1.0) - 0.5
        cols = torch.arange(width, device=x.device, dtype=torch.float32) / (width - 1.0) - 0.5
        grid = torch.stack(torch.meshgrid(rows, cols, indexing="ij"), dim=0).to(x.dtype)
        return grid.unsqueeze(0).expand(batch, -1, -1, -1)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """[B, 3, H, W] normalised RGB -> list of 4 maps [B, C_i, H/s_i, W/s_i] (strides 4, 8, 16, 32)."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"ContextCluster: expected an image batch [B, 3, H, W], got shape {list(x.shape)}")
        self.check_input_size(*x.shape[-2:])
        x = self.patch_embed(torch.cat([x, self.position_channels(x)], dim=1))
        outs = []
        for index, layer in enumerate(self.network):
            x = layer(x)
            if index % 2 == 0:
                # The extra norms only feed the outputs; the next stage sees the un-normalised map.
                outs.append(getattr(self, f"norm{index}")(x))
        return outs


# MODEL.COC keys that replace the variant's architecture value when given (non-empty).
_COC_ARCH_KEYS = {"DEPTHS": "depths", "EMBED_DIMS": "embed_dims", "MLP_RATIOS": "mlp_ratios", "HEADS": "heads",
                  "HEAD_DIM": "head_dim", "FOLD": "fold"}


@BACKBONE_REGISTRY.register()
class D2ContextCluster(ContextCluster, Backbone):
    """Detectron2 Backbone around ``ContextCluster``: outputs res2..res5, size_divisibility 32.

    Its state-dict keys are the official ones (no prefix). Defaults build CoC-Small-4.
    """

    @configurable
    def __init__(
        self,
        *,
        depths: Sequence[int] = (2, 2, 6, 2),
        embed_dims: Sequence[int] = (64, 128, 320, 512),
        mlp_ratios: Union[float, Sequence[float]] = (8, 8, 4, 4),
        heads: Union[int, Sequence[int]] = (4, 4, 8, 8),
        head_dim: Union[int, Sequence[int]] = 32,
        proposal_size: Union[int, Sequence[int]] = 2,
        fold: Union[int, Sequence[int]] = (8, 4, 2, 1),
        agg_norm: str = "sim",
        drop_path_rate: float = 0.0,
        layer_scale_init: float = 1e-5,
        out_features: Sequence[str] = ("res2", "res3", "res4", "res5"),
    ):
        super().__init__(depths=depths, embed_dims=embed_dims, mlp_ratios=mlp_ratios, heads=heads,
                         head_dim=head_dim, proposal_size=proposal_size, fold=fold, agg_norm=agg_norm,
                         drop_path_rate=drop_path_rate, layer_scale_init=layer_scale_init)
        names = [f"res{i + 2}" for i in range(4)]
        unknown = [name for name in out_features if name not in names]
        if unknown or not out_features:
            raise ValueError(f"D2ContextCluster: out_features must be a non-empty subset of {names}, "
                             f"got {list(out_features)}")
        self._out_features = list(out_features)
        self._out_feature_channels = dict(zip(names, self.embed_dims))
        self._out_feature_strides = dict(zip(names, self.strides))

    @classmethod
    def from_config(cls, cfg, input_shape=None):
        """Arguments from ``cfg.MODEL.COC`` (``ctxseg.config.add_ctxseg_config`` adds the keys).

        ``SIZE`` and ``PROPOSALS`` choose the variant; each architecture key that is given (``DEPTHS``,
        ``EMBED_DIMS``, ``MLP_RATIOS``, ``HEADS``, ``HEAD_DIM``, ``FOLD``; empty or 0 keeps the variant's)
        replaces the variant's value.
        """
        if "COC" not in cfg.MODEL:
            raise ConfigError("D2ContextCluster: the config has no MODEL.COC node; call "
                              "ctxseg.config.add_ctxseg_config(cfg) before merging the config file")
        coc = cfg.MODEL.COC
        try:
            kwargs = variant_kwargs(coc.SIZE, coc.PROPOSALS)
        except ValueError as e:
            raise ConfigError(f"MODEL.COC.SIZE / PROPOSALS: {e}") from None
        kwargs.update({name: coc[key] for key, name in _COC_ARCH_KEYS.items() if coc.get(key)})
        return dict(kwargs, agg_norm=coc.AGG_NORM, drop_path_rate=coc.DROP_PATH_RATE,
                    layer_scale_init=coc.get("LAYER_SCALE_INIT", 1e-5), out_features=tuple(coc.OUT_FEATURES))

    @property
    def size_divisibility(self) -> int:
        """Inputs are padded to multiples of this (32 for every dense variant)."""
        return self.required_divisor

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """[B, 3, H, W] normalised RGB -> {"res2": ..., "res5": ...} (only ``out_features``)."""
        outs = dict(zip(["res2", "res3", "res4", "res5"], super().forward(x)))
        return {name: outs[name] for name in self._out_features}


def coc_small(proposals: int = 4, **kwargs) -> "D2ContextCluster":
    """CoC-Small-{4,25,49} as a D2ContextCluster; ``kwargs`` go to its constructor (e.g. agg_norm)."""
    return D2ContextCluster(**variant_kwargs("small", proposals), **kwargs)


def coc_medium(proposals: int = 4, **kwargs) -> "D2ContextCluster":
    """CoC-Medium-{4,25,49} as a D2ContextCluster; ``kwargs`` go to its constructor (e.g. agg_norm)."""
    return D2ContextCluster(**variant_kwargs("medium", proposals), **kwargs)
