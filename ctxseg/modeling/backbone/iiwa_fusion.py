"""The IIWA feature-fusion neck (upstream ``Cascade_TRP``): a top-down cascade of three Cross-IIWA fusions of
adjacent backbone levels, wrapped around a bottom-up backbone as a Detectron2 ``Backbone`` (as Detectron2's
FPN wraps its ``bottom_up``).

    F2 = fusions.2(key=res5, query=res4);  F1 = fusions.1(key=F2, query=res3);  F0 = fusions.0(key=F1, query=res2)

The neck returns ``{"f0": F0, "f1": F1, "f2": F2, "res5": res5}``: the fused maps are the decoder's
memories, the untouched top map is its query (upstream's segmentor feeds the backbone's last output to the
decoder). Upstream released the Cross-IIWA layer but not this module's body; the cascade is the only
reading of its config in which every size (in_channels, d_models, n_head, the six patch_sizes, num_outs)
is used consistently. ``projects/IIWA/README.md`` maps the upstream config keys onto these arguments.
"""
from typing import Dict, Optional, Sequence

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from torch import nn

from ctxseg.layers import CrossIIWA
from ctxseg.layers.iiwa_attention import check_window_size
from ctxseg.layers.mlp import Mlp

__all__ = ["IIWAFusionNeck", "FusionFFN"]


class FusionFFN(nn.Module):
    """Optional pre-norm feed-forward residual after a fusion: ``x + Dropout(Mlp(norm(x)))`` on NCHW maps."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.1):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, hidden_dim, act_layer=nn.GELU, drop=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) -> (B, C, H, W)."""
        y = x.permute(0, 2, 3, 1)
        return x + self.mlp(self.norm(y)).permute(0, 3, 1, 2)


@BACKBONE_REGISTRY.register()
class IIWAFusionNeck(Backbone):
    """Bottom-up backbone + top-down cascade of Cross-IIWA fusions; outputs ``f0, f1, f2`` and the top map.

    Fusion i takes backbone level i as its query and the fused level i + 1 (the raw top level for i = 2)
    as its key, and outputs as many channels as level i has (Cross-IIWA adds its query map to its output),
    at level i's resolution. Windows: ``patch_sizes[2i]`` on the key, ``patch_sizes[2i + 1]`` on the query;
    both must cover the same image area so that the two window grids coincide.

    Args:
        bottom_up: a Backbone returning the four maps ``in_features`` (e.g. the dilated Swin: strides
            4, 8, 8, 8, channels E, 2E, 4E, 8E).
        in_features: names of the four bottom-up maps, finest first; the last one is passed through.
        n_head: heads of fusions 0, 1, 2.
        patch_sizes: six windows (h, w): key and query window of fusion 0, then fusion 1, then fusion 2.
        dropout_ratio: dropout inside each Cross-IIWA.
        scale, local_softmax: Cross-IIWA's fixes of the released behaviour (default: released).
        ffn_dims: None (the released fusion: no feed-forward layer), or three widths: append a
            :class:`FusionFFN` of that hidden width after each fusion.

    From a yacs config (``MODEL.BACKBONE.NAME: IIWAFusionNeck``): see :meth:`from_config`.
    """

    @configurable
    def __init__(self, *, bottom_up: Backbone, in_features: Sequence[str] = ("res2", "res3", "res4", "res5"),
                 n_head: Sequence[int] = (4, 8, 16),
                 patch_sizes: Sequence[Sequence[int]] = ((4, 4), (8, 8), (4, 4), (4, 4), (4, 4), (4, 4)),
                 dropout_ratio: float = 0.1, scale: str = "one", local_softmax: bool = False,
                 ffn_dims: Optional[Sequence[int]] = None):
        super().__init__()
        in_features = tuple(in_features)
        if len(in_features) != 4:
            raise ValueError(f"IIWAFusionNeck: in_features must name 4 bottom-up maps (finest first), "
                             f"got {in_features}")
        shapes = bottom_up.output_shape()
        missing = [name for name in in_features if name not in shapes]
        if missing:
            raise ValueError(f"IIWAFusionNeck: bottom_up has no output {missing}; its outputs are {sorted(shapes)}")
        channels = [shapes[name].channels for name in in_features]
        strides = [shapes[name].stride for name in in_features]
        n_head = _check_length(n_head, 3, "n_head")
        patch_sizes = [check_window_size(p, "IIWAFusionNeck", f"patch_sizes[{k}]")
                       for k, p in enumerate(_check_length(patch_sizes, 6, "patch_sizes"))]

        self.bottom_up = bottom_up
        self.in_features = in_features
        self.fusions = nn.ModuleList()
        for i in range(3):
            win_k, win_q = patch_sizes[2 * i], patch_sizes[2 * i + 1]
            for axis in (0, 1):
                if win_k[axis] * strides[i + 1] != win_q[axis] * strides[i]:
                    raise ValueError(
                        f"IIWAFusionNeck: fusion {i} pairs a stride-{strides[i + 1]} key with windows {win_k} "
                        f"and a stride-{strides[i]} query with windows {win_q}; the windows must cover the "
                        f"same image area (key window x key stride == query window x query stride), check "
                        f"patch_sizes[{2 * i}] and patch_sizes[{2 * i + 1}]")
            self.fusions.append(CrossIIWA(in_chans1=channels[i + 1], in_chans2=channels[i], d_model=channels[i],
                                          nhead=n_head[i], win_size_k=win_k, win_size_q=win_q,
                                          dropout=dropout_ratio, scale=scale, local_softmax=local_softmax))
        if ffn_dims is None:
            self.ffns = None
        else:
            ffn_dims = _check_length(ffn_dims, 3, "ffn_dims")
            self.ffns = nn.ModuleList(FusionFFN(d, ff, dropout_ratio) for d, ff in zip(channels, ffn_dims))

        top = in_features[3]
        self._out_features = ["f0", "f1", "f2", top]
        self._out_feature_channels = dict(zip(self._out_features, channels))
        self._out_feature_strides = dict(zip(self._out_features, strides))

    @classmethod
    def from_config(cls, cfg, input_shape=None):
        """The bottom-up backbone ``MODEL.BACKBONE.BOTTOM_UP`` names, built from the same config, and the
        neck's ``MODEL.IIWA.NECK`` keys (``ctxseg.config.add_ctxseg_config``)."""
        neck = cfg.MODEL.IIWA.NECK
        return dict(bottom_up=BACKBONE_REGISTRY.get(cfg.MODEL.BACKBONE.BOTTOM_UP)(cfg, input_shape),
                    in_features=neck.IN_FEATURES, n_head=neck.NUM_HEADS, patch_sizes=neck.WINDOW_SIZES,
                    dropout_ratio=neck.DROPOUT, scale=neck.SCALE, local_softmax=neck.LOCAL_SOFTMAX,
                    ffn_dims=neck.FFN_DIMS or None)

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Image batch (B, 3, H, W) -> ``{"f0", "f1", "f2": fused maps, <top>: the top bottom-up map}``."""
        outputs = self.fuse(self.bottom_up(x))
        return {name: outputs[name] for name in self._out_features}

    def fuse(self, bottom):
        """The top-down cascade on the bottom-up maps ``bottom`` (a dict holding ``in_features``)."""
        levels = [bottom[name] for name in self.in_features]
        outputs = {}
        key = levels[3]
        for i in (2, 1, 0):
            key = self.fusions[i](key, levels[i])
            if self.ffns is not None:
                key = self.ffns[i](key)
            outputs[f"f{i}"] = key
        outputs[self.in_features[3]] = levels[3]
        return outputs

    def output_shape(self) -> Dict[str, ShapeSpec]:
        """Channels and strides of ``f0, f1, f2`` and of the passed-through top map."""
        return {name: ShapeSpec(channels=self._out_feature_channels[name], stride=self._out_feature_strides[name])
                for name in self._out_features}

    @property
    def size_divisibility(self) -> int:
        """The bottom-up backbone's; the fusions pad to their windows internally."""
        return self.bottom_up.size_divisibility


def _check_length(values, length, name):
    values = list(values)
    if len(values) != length:
        raise ValueError(f"IIWAFusionNeck: {name} must have {length} entries, got {len(values)}: {values}")
    return values
