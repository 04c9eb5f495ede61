"""The IIWA segmentation decoder (upstream ``GTR_DECODER3``, whose body was never released: a reconstruction).

The top backbone map becomes query tokens of width D (``query_dim``); the fused neck maps become key
windows of width D, computed once per forward. ``depths`` blocks of Self-IIWA then MS Cross-IIWA refine
the query; a Swin-Unet-style head (Linear to ``embed_dim``, patch expansion by ``head_scale``, LayerNorm,
Dropout2d, 1x1 conv) predicts at stride 8 / head_scale, and an auxiliary classifier on the embedded
query gives deep supervision.

The embeddings of the query and of the three memories (``embed_norm``):

* ``"bn"`` (default): 1x1 conv (no bias) + BatchNorm, synchronised across processes under DDP
  (Detectron2's ``NaiveSyncBatchNorm``, which works on every backend and is plain BatchNorm in one process).
  Upstream's decoder stub imports ``ConvModule`` and its configs carry ``norm_cfg=BN``.
* ``"ln"``: Linear + per-token LayerNorm, Swin's patch-embedding style.

Trained from scratch, the LayerNorm embedding lets the backbone fall into "all tokens alike" (a per-token
norm rescales a nearly constant map into a full-size signal, so nothing pushes the tokens apart), while
the BatchNorm embedding normalises each channel over the batch and all positions and so rewards spatial
variation; ``projects/IIWA/README.md`` gives the measurements. Each ``"bn"`` embedding has D fewer
parameters (no bias before the norm).
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from detectron2.config import configurable
from detectron2.layers import NaiveSyncBatchNorm
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from einops import rearrange
from torch import nn
from torch.utils.checkpoint import checkpoint

from ctxseg.layers import MultiScaleCrossIIWA, SelfIIWA, init_linear_and_layernorm, key_windows_from_memories
from ctxseg.layers.linear import Linear
from ctxseg.layers.window import WindowSize

from ..losses import SegmentationCrossEntropy

__all__ = ["IIWADecoderHead", "IIWADecoderBlock", "EMBED_NORMS"]

EMBED_NORMS = ("bn", "ln")


class IIWADecoderBlock(nn.Module):
    """One decoder block: Self-IIWA on the query map, then MS Cross-IIWA to the memory key windows."""

    def __init__(self, dim: int, window_size_q: WindowSize, window_size_k: WindowSize, num_heads: int,
                 qkv_bias: bool = True, qk_scale: Optional[float] = None, drop: float = 0.0, attn_drop: float = 0.0,
                 drop_path: float = 0.0, mlp_ratio: float = 4.0, use_checkpoint: bool = False):
        super().__init__()
        common = dict(num_heads=num_heads, qkv_bias=qkv_bias, qk_scale=qk_scale, attn_drop=attn_drop,
                      proj_drop=drop, mlp_ratio=mlp_ratio, drop_path=drop_path)
        self.self_attn = SelfIIWA(dim, window_size_q, **common)
        self.cross_attn = MultiScaleCrossIIWA(dim, window_size_q, window_size_k, **common)
        self.use_checkpoint = use_checkpoint

    def forward(self, query: torch.Tensor, key_windows: Union[torch.Tensor, List[torch.Tensor]],
                key_tokens: Union[torch.Tensor, List[torch.Tensor]]) -> torch.Tensor:
        """query (B, H, W, D); key windows (B, nWk, wk0, wk1, D) and tokens (B, nWk, D) -> (B, H, W, D)."""
        if self.use_checkpoint and torch.is_grad_enabled():
            query = checkpoint(self.self_attn, query, use_reentrant=False)
            return checkpoint(self.cross_attn, query, key_windows, key_tokens, use_reentrant=False)
        return self.cross_attn(self.self_attn(query), key_windows, key_tokens)


def _embedding(in_channels, dim, embed_norm):
    """The (projection, norm) pair of one embedding; see the module docstring."""
    if embed_norm == "bn":
        proj = nn.Conv2d(in_channels, dim, kernel_size=1, bias=False)
        nn.init.kaiming_normal_(proj.weight, mode="fan_out", nonlinearity="relu")
        return proj, NaiveSyncBatchNorm(dim)
    return Linear(in_channels, dim), nn.LayerNorm(dim)


@SEM_SEG_HEADS_REGISTRY.register()
class IIWADecoderHead(nn.Module):
    """IIWA decoder: ``forward(features) -> (logits, aux)``; ``losses((logits, aux), targets)`` for training.

    Defaults are the Swin-S ADE20K configuration.

    Args:
        num_classes: classes of the main and the auxiliary classifier.
        embed_dim: width of the prediction head (E_h).
        query_dim: width D of the query tokens, the memory windows and every IIWA layer.
        memory_dims: channels of the memory maps ``memory_features`` (the neck's widths).
        query_in_channels: channels of the query map (default ``2 * memory_dims[-1]``, Swin's top stage).
        depths: blocks per layer; block count ``sum(depths)``.
        num_heads: heads of each layer (an int for all layers).
        window_size_q, window_size_k: query windows and memory key windows (equal in every config).
        mlp_ratio, qkv_bias, qk_scale: IIWA layer options.
        drop_rate: projection/MLP dropout in the IIWA layers and Dropout2d before the classifier.
        attn_drop_rate: attention dropout of the local branches.
        drop_path_rate: stochastic depth, linear from 0 over the blocks.
        embed_norm: ``"bn"`` (1x1 conv + synchronised BatchNorm) or ``"ln"`` (Linear + LayerNorm) for the
            query and memory embeddings.
        head_scale: upsampling factor of the patch-expanding head (logits at stride 8 / head_scale).
        query_feature, memory_features: keys of the feature dict (the IIWA neck's outputs).
        ignore_value, class_weight, ohem_thresh, ohem_min_kept: cross-entropy with OHEM pixel sampling
            (``ohem_min_kept=None`` disables it), reduced over all pixels as MMSegmentation 0.x does.
        aux_weight: weight of the auxiliary loss (the classifier on the embedded query).
        align_corners: of the bilinear resize of the logits to the label size in the losses.
        use_checkpoint: recompute each IIWA layer in the backward pass to save memory.

    From a yacs config (``MODEL.SEM_SEG_HEAD.NAME: IIWADecoderHead``): see :meth:`from_config`.
    """

    @configurable
    def __init__(self, *, num_classes: int, embed_dim: int = 384, query_dim: int = 256,
                 memory_dims: Sequence[int] = (96, 192, 384), query_in_channels: Optional[int] = None,
                 depths: Sequence[int] = (1, 1, 1, 1), num_heads: Union[int, Sequence[int]] = 8,
                 window_size_q: WindowSize = (8, 8), window_size_k: WindowSize = (8, 8),
                 mlp_ratio: float = 4.0, qkv_bias: bool = True, qk_scale: Optional[float] = None,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0, drop_path_rate: float = 0.2,
                 embed_norm: str = "bn", head_scale: int = 4, query_feature: str = "res5",
                 memory_features: Sequence[str] = ("f0", "f1", "f2"), ignore_value: int = 255,
                 class_weight: Optional[Sequence[float]] = None, ohem_thresh: Optional[float] = 0.7,
                 ohem_min_kept: Optional[int] = 100000, aux_weight: float = 0.4, align_corners: bool = False,
                 use_checkpoint: bool = False):
        super().__init__()
        memory_dims, memory_features = list(memory_dims), tuple(memory_features)
        if len(memory_dims) != len(memory_features) or not memory_dims:
            raise ValueError(f"IIWADecoderHead: memory_dims {memory_dims} must give one channel count per memory "
                             f"feature {memory_features}")
        depths = list(depths)
        if not depths or any(not isinstance(d, int) or d < 0 for d in depths) or sum(depths) == 0:
            raise ValueError(f"IIWADecoderHead: depths must be non-negative ints with a positive sum, got {depths}")
        num_heads = [num_heads] * len(depths) if isinstance(num_heads, int) else list(num_heads)
        if len(num_heads) != len(depths):
            raise ValueError(f"IIWADecoderHead: num_heads must be an int or have one entry per layer "
                             f"(len(depths)={len(depths)}), got {num_heads}")
        if not isinstance(head_scale, int) or head_scale < 1:
            raise ValueError(f"IIWADecoderHead: head_scale must be a positive int, got {head_scale!r}")
        if embed_norm not in EMBED_NORMS:
            raise ValueError(f"IIWADecoderHead: embed_norm must be one of {EMBED_NORMS}, got {embed_norm!r}")
        query_in_channels = 2 * memory_dims[-1] if query_in_channels is None else query_in_channels

        self.num_classes = num_classes
        self.align_corners = align_corners
        self.query_feature = query_feature
        self.memory_features = memory_features
        self.query_in_channels = query_in_channels
        self.memory_dims = memory_dims
        self.window_size_k = window_size_k
        self.head_scale = head_scale
        self.embed_norm = embed_norm

        self.query_proj, self.query_norm = _embedding(query_in_channels, query_dim, embed_norm)
        self.aux_classifier = Linear(query_dim, num_classes)
        memory_embeddings = [_embedding(m, query_dim, embed_norm) for m in memory_dims]
        self.memory_projs = nn.ModuleList(proj for proj, _ in memory_embeddings)
        self.memory_norms = nn.ModuleList(norm for _, norm in memory_embeddings)

        drop_paths = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.blocks = nn.ModuleList()
        for layer, depth in enumerate(depths):
            for _ in range(depth):
                self.blocks.append(IIWADecoderBlock(
                    query_dim, window_size_q, window_size_k, num_heads[layer], qkv_bias=qkv_bias, qk_scale=qk_scale,
                    drop=drop_rate, attn_drop=attn_drop_rate, drop_path=drop_paths[len(self.blocks)],
                    mlp_ratio=mlp_ratio, use_checkpoint=use_checkpoint))

        # Each block ends with a LayerNorm, so the head starts with its projection.
        self.head_proj = Linear(query_dim, embed_dim)
        self.expand = Linear(embed_dim, head_scale * head_scale * embed_dim, bias=False)
        self.expand_norm = nn.LayerNorm(embed_dim)
        self.dropout = nn.Dropout2d(drop_rate)
        self.classifier = nn.Conv2d(embed_dim, num_classes, kernel_size=1)

        self.loss = SegmentationCrossEntropy(ignore_label=ignore_value, class_weight=class_weight, reduction="all",
                                             ohem_thresh=ohem_thresh, ohem_min_kept=ohem_min_kept,
                                             align_corners=align_corners)
        self.aux_loss = SegmentationCrossEntropy(ignore_label=ignore_value, class_weight=class_weight,
                                                 reduction="all", loss_weight=aux_weight, ohem_thresh=ohem_thresh,
                                                 ohem_min_kept=ohem_min_kept, align_corners=align_corners)
        self.loss.check_num_classes(num_classes, "IIWADecoderHead")  # the auxiliary loss has the same weights
        # Swin's init for the decoder's own layers and those inside the IIWA layers; bias tables keep theirs.
        self.apply(init_linear_and_layernorm)
        nn.init.normal_(self.classifier.weight, mean=0.0, std=0.01)
        nn.init.zeros_(self.classifier.bias)

    @classmethod
    def from_config(cls, cfg, input_shape):
        """``MODEL.IIWA.DECODER`` (``ctxseg.config.add_ctxseg_config``); classes, ignore value and class weights
        from ``MODEL.SEM_SEG_HEAD``; the memory and query widths from the neck's ``input_shape``."""
        decoder, head = cfg.MODEL.IIWA.DECODER, cfg.MODEL.SEM_SEG_HEAD
        missing = [f for f in (*decoder.MEMORY_FEATURES, decoder.QUERY_FEATURE) if f not in input_shape]
        if missing:
            raise ValueError(f"IIWADecoderHead: MODEL.IIWA.DECODER names features {missing} the backbone does "
                             f"not return (it returns {sorted(input_shape)})")
        return dict(num_classes=head.NUM_CLASSES, embed_dim=decoder.EMBED_DIM, query_dim=decoder.QUERY_DIM,
                    memory_dims=[input_shape[f].channels for f in decoder.MEMORY_FEATURES],
                    query_in_channels=input_shape[decoder.QUERY_FEATURE].channels, depths=decoder.DEPTHS,
                    num_heads=decoder.NUM_HEADS, window_size_q=tuple(decoder.WINDOW_SIZE_Q),
                    window_size_k=tuple(decoder.WINDOW_SIZE_K), mlp_ratio=decoder.MLP_RATIO,
                    qkv_bias=decoder.QKV_BIAS, qk_scale=decoder.QK_SCALE, drop_rate=decoder.DROP_RATE,
                    attn_drop_rate=decoder.ATTN_DROP_RATE, drop_path_rate=decoder.DROP_PATH_RATE,
                    embed_norm=decoder.EMBED_NORM, head_scale=decoder.HEAD_SCALE,
                    query_feature=decoder.QUERY_FEATURE, memory_features=decoder.MEMORY_FEATURES,
                    ignore_value=head.IGNORE_VALUE, class_weight=head.CLASS_WEIGHT or None,
                    ohem_thresh=decoder.OHEM_THRESH, ohem_min_kept=decoder.OHEM_MIN_KEPT,
                    aux_weight=decoder.AUX_WEIGHT, align_corners=decoder.ALIGN_CORNERS,
                    use_checkpoint=decoder.USE_CHECKPOINT)

    def _feature(self, features, name, channels):
        if name not in features:
            raise KeyError(f"IIWADecoderHead: feature '{name}' missing; got features {sorted(features)}")
        x = features[name]
        if x.dim() != 4 or x.shape[1] != channels:
            raise ValueError(f"IIWADecoderHead: feature '{name}' must be (B, {channels}, H, W), got {tuple(x.shape)}")
        return x

    def _embed(self, x, proj, norm):
        """(B, C, h, w) map -> (B, h, w, D) tokens through one embedding."""
        if self.embed_norm == "bn":
            return norm(proj(x)).permute(0, 2, 3, 1)
        return norm(proj(x.permute(0, 2, 3, 1)))

    def embed_query(self, features):
        """The query tokens q0 (B, h, w, D) from the top map (B, query_in_channels, h, w)."""
        top = self._feature(features, self.query_feature, self.query_in_channels)
        return self._embed(top, self.query_proj, self.query_norm)

    def memory_windows(self, features):
        """Key windows (B, nWk, wk0, wk1, D) and window tokens (B, nWk, D) of all memories, once per forward."""
        memories = [self._embed(self._feature(features, name, dim), proj, norm)
                    for name, dim, proj, norm in zip(self.memory_features, self.memory_dims, self.memory_projs,
                                                     self.memory_norms)]
        return key_windows_from_memories(memories, self.window_size_k)

    def predict(self, query):
        """Logits (B, num_classes, h * head_scale, w * head_scale) from the decoded query (B, h, w, D)."""
        x = self.expand(self.head_proj(query))
        x = rearrange(x, "b h w (p1 p2 c) -> b (h p1) (w p2) c", p1=self.head_scale, p2=self.head_scale)
        x = self.expand_norm(x).permute(0, 3, 1, 2)
        return self.classifier(self.dropout(x))

    def forward(self, features: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(logits, aux)``: (B, K, s*h, s*w) at stride 8 / head_scale and (B, K, h, w) at the query's stride."""
        query = self.embed_query(features)
        aux = self.aux_classifier(query).permute(0, 3, 1, 2)
        key_windows, key_tokens = self.memory_windows(features)
        for block in self.blocks:
            query = block(query, key_windows, key_tokens)
        return self.predict(query), aux

    def losses(self, outputs: Tuple[torch.Tensor, torch.Tensor], targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``{"loss_sem_seg", "loss_aux"}`` for ``(logits, aux)`` from ``forward`` and (N, H, W) int64 targets."""
        logits, aux = outputs
        return {"loss_sem_seg": self.loss(logits, targets), "loss_aux": self.aux_loss(aux, targets)}
