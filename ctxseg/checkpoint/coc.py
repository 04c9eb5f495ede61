"""Context Cluster converters: the authors' ImageNet checkpoints and mmseg Semantic FPN checkpoints.

- ``coc-imagenet``: a timm-trained CoC checkpoint (``state_dict`` / ``model`` / raw dict, ``module.``
  prefixes allowed, MLP weights 4-D 1x1-conv or Linear) -> backbone weights under ``prefix``
  (default ``backbone.bottom_up.``: the CoC inside Detectron2's FPN). The classifier (``head.*``,
  ``norm.*``) is reported unused; ``norm0/2/4/6`` are reported missing (they start fresh).
- ``coc-mmseg``: an mmseg 0.x ``EncoderDecoder`` (CoC + FPN + FPNHead) checkpoint -> the whole ctxseg
  Semantic FPN model (``backbone.bottom_up.*``, ``backbone.fpn_*``, ``sem_seg_head.*``).

The authors' ADE20K checkpoints were trained with the first-release aggregation normaliser: build
the backbone with ``agg_norm="count"`` for them.
"""
import re
from typing import Any, Dict, List, Optional, Tuple

import torch

from ..modeling.backbone.context_cluster import COC_ARCHS, D2ContextCluster
from .convert import ConversionResult, register_converter

__all__ = ["convert_coc_imagenet", "convert_coc_mmseg", "infer_coc_arch", "semantic_fpn_keys"]

# Sequential indices of the 3x3 convs in each Semantic FPN scale head (Upsample at odd indices).
SCALE_HEAD_CONVS = {2: (0,), 3: (0,), 4: (0, 2), 5: (0, 2, 4)}
BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")

_MMSEG_RULES = [
    (re.compile(r"^neck\.lateral_convs\.(\d+)\.conv\.(weight|bias)$"),
     lambda m: f"backbone.fpn_lateral{int(m[1]) + 2}.{m[2]}"),
    (re.compile(r"^neck\.fpn_convs\.(\d+)\.conv\.(weight|bias)$"),
     lambda m: f"backbone.fpn_output{int(m[1]) + 2}.{m[2]}"),
    (re.compile(r"^decode_head\.scale_heads\.(\d+)\.(\d+)\.conv\.weight$"),
     lambda m: f"sem_seg_head.p{int(m[1]) + 2}.{m[2]}.weight"),
    (re.compile(r"^decode_head\.scale_heads\.(\d+)\.(\d+)\.bn\.(\w+)$"),
     lambda m: f"sem_seg_head.p{int(m[1]) + 2}.{m[2]}.norm.{m[3]}"),
    (re.compile(r"^decode_head\.conv_seg\.(weight|bias)$"), lambda m: f"sem_seg_head.predictor.{m[1]}"),
]


def _source_state_dict(checkpoint, what):
    """The weights of a loaded checkpoint (``state_dict``, else ``model``, else the dict itself)."""
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{what}: expected the checkpoint to be a dict, got {type(checkpoint).__name__}")
    state_dict = checkpoint
    for name in ("state_dict", "model"):
        if isinstance(checkpoint.get(name), dict):
            state_dict = checkpoint[name]
            break
    # DataParallel / DDP checkpoints prefix every key with "module.".
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state_dict.items()}


def _mlp_to_linear(key, tensor):
    """Squeeze a 4-D 1x1-conv MLP weight (checkpoints before the Linear switch) to a Linear weight."""
    if ".mlp.fc" in key and key.endswith(".weight") and tensor.dim() == 4:
        if tensor.shape[2:] != (1, 1):
            raise ValueError(f"{key}: expected a 1x1 conv weight [out, in, 1, 1], got {list(tensor.shape)}")
        return tensor[:, :, 0, 0], True
    return tensor, False


def _is_coc_backbone(state_dict):
    """True if ``state_dict`` (official names, no prefix) holds a CoC backbone."""
    stem = state_dict.get("patch_embed.proj.weight")
    return (torch.is_tensor(stem) and stem.dim() == 4 and stem.shape[1] == 5
            and torch.is_tensor(state_dict.get("network.0.0.token_mixer.f.weight")))


def _describe(state_dict, count=5):
    keys = list(state_dict)
    return f"{len(keys)} keys such as {keys[:count]}"


def infer_coc_arch(state_dict: Dict[str, torch.Tensor]) -> Tuple[Optional[str], Dict[str, Any]]:
    """(variant name or None, D2ContextCluster kwargs) read from official CoC keys and shapes.

    The proposal size cannot be read from weights (it has no parameters); the kwargs leave it at its
    default. For a non-standard architecture the heads are set to 1 (same keys and shapes).
    """
    stages = (0, 2, 4, 6)
    depths = []
    for s in stages:
        blocks = {int(m[1]) for m in (re.match(rf"^network\.{s}\.(\d+)\.", k) for k in state_dict) if m}
        if not blocks:
            raise ValueError(f"not a Context Cluster backbone: no blocks under 'network.{s}.*' "
                             f"({_describe(state_dict)})")
        depths.append(max(blocks) + 1)
    try:
        embed_dims = [state_dict["patch_embed.proj.weight"].shape[0]]
        embed_dims += [state_dict[f"network.{s}.proj.weight"].shape[0] for s in (1, 3, 5)]
        mlp_ratios, inner = [], []
        for s, dim in zip(stages, embed_dims):
            mlp_ratios.append(state_dict[f"network.{s}.0.mlp.fc1.weight"].shape[0] / dim)
            inner.append(state_dict[f"network.{s}.0.token_mixer.f.weight"].shape[0])
    except KeyError as e:
        raise ValueError(f"incomplete Context Cluster backbone: key {e} is missing ({_describe(state_dict)})") from None
    for name, arch in COC_ARCHS.items():
        standard = (list(arch["depths"]) == depths and list(arch["embed_dims"]) == embed_dims
                    and list(arch["mlp_ratios"]) == mlp_ratios
                    and [h * arch["head_dim"] for h in arch["heads"]] == inner)
        if standard:
            return name, dict(arch)
    return None, dict(depths=depths, embed_dims=embed_dims, mlp_ratios=mlp_ratios, heads=1, head_dim=inner)


def _expected_backbone(state_dict):
    """(variant name, {key: shape}) of the D2ContextCluster matching the checkpoint."""
    variant, kwargs = infer_coc_arch(state_dict)
    model = D2ContextCluster(**kwargs)
    return variant, {k: v.shape for k, v in model.state_dict().items()}


def _variant_note(variant, kwargs_source):
    if variant is None:
        return f"non-standard CoC architecture (depths/widths read from {kwargs_source})"
    return (f"CoC-{variant.capitalize()} weights; the proposal count (4/25/49) is not stored in weights: "
            "choose it in the config")


def _backbone_tensors(state_dict, prefix, expected):
    """Map official backbone keys to ``prefix + key``; returns (mapped, unused, squeezed count, notes)."""
    mapped, unused, notes = {}, [], []
    squeezed = 0
    for key, tensor in state_dict.items():
        if key not in expected or not torch.is_tensor(tensor):
            unused.append(key)
            continue
        tensor, was_squeezed = _mlp_to_linear(key, tensor)
        squeezed += was_squeezed
        if tensor.shape != expected[key]:
            notes.append(f"shape mismatch for {key}: checkpoint {list(tensor.shape)}, "
                         f"model {list(expected[key])}")
        mapped[prefix + key] = tensor
    return mapped, unused, squeezed, notes


@register_converter("coc-imagenet")
def convert_coc_imagenet(checkpoint: Dict[str, Any], prefix: str = "backbone.bottom_up.",
                         **options: Any) -> ConversionResult:
    """The authors' ImageNet CoC checkpoint -> D2ContextCluster weights under ``prefix``."""
    what = "coc-imagenet"
    if options:
        raise TypeError(f"the {what} converter takes only the option 'prefix', got {sorted(options)}")
    state_dict = _source_state_dict(checkpoint, what)
    if not _is_coc_backbone(state_dict):
        if _is_coc_backbone({k[len("backbone."):]: v for k, v in state_dict.items()}):
            raise ValueError(f"{what}: this is an mmseg segmentation checkpoint (keys 'backbone.*', "
                             "'decode_head.*'); use the 'coc-mmseg' converter")
        raise ValueError(
            f"{what}: not a Context Cluster ImageNet checkpoint: expected 'patch_embed.proj.weight' with 5 "
            "input channels (RGB + 2 position channels) and 'network.0.0.token_mixer.f.weight'; found "
            f"{_describe(state_dict)}"
        )
    variant, expected = _expected_backbone(state_dict)
    mapped, unused, squeezed, notes = _backbone_tensors(state_dict, prefix, expected)
    missing = [prefix + k for k in expected if prefix + k not in mapped]
    notes = [_variant_note(variant, "the checkpoint")] + notes
    if squeezed:
        notes.append(f"squeezed {squeezed} 4-D 1x1-conv MLP weights to Linear")
    if any(k.split(".")[0] in ("head", "norm") for k in unused):
        notes.append("classifier keys ('head.*', 'norm.*') are not used by the dense backbone")
    if any(re.match(r"^norm[0246]\.", k) for k in expected if prefix + k in missing):
        notes.append("norm0/2/4/6 are new in the dense backbone and start at weight 1, bias 0, as in the "
                     "authors' segmentation code")
    notes.append("checkpoints released from 2023-05 on were trained with agg_norm='sim'; the first "
                 "release with agg_norm='count'")
    return ConversionResult(state_dict=mapped, unused_keys=unused, missing_keys=missing, notes=notes)


def semantic_fpn_keys(num_classes: Optional[int] = None) -> List[str]:
    """Key names of the ctxseg Semantic FPN neck and head (FPN without norm, BN scale heads)."""
    keys = []
    for level in (2, 3, 4, 5):
        keys += [f"backbone.fpn_lateral{level}.{p}" for p in ("weight", "bias")]
        keys += [f"backbone.fpn_output{level}.{p}" for p in ("weight", "bias")]
    for level, convs in SCALE_HEAD_CONVS.items():
        for k in convs:
            keys.append(f"sem_seg_head.p{level}.{k}.weight")
            keys += [f"sem_seg_head.p{level}.{k}.norm.{p}" for p in BN_KEYS]
    keys += ["sem_seg_head.predictor.weight", "sem_seg_head.predictor.bias"]
    return keys


@register_converter("coc-mmseg")
def convert_coc_mmseg(checkpoint: Dict[str, Any], **options: Any) -> ConversionResult:
    """An mmseg CoC + FPN + FPNHead checkpoint -> the whole ctxseg Semantic FPN model's weights."""
    what = "coc-mmseg"
    if options:
        raise TypeError(f"the {what} converter writes the whole model under fixed names and takes no "
                        f"options, got {sorted(options)}")
    state_dict = _source_state_dict(checkpoint, what)
    backbone = {k[len("backbone."):]: v for k, v in state_dict.items() if k.startswith("backbone.")}
    if not _is_coc_backbone(backbone) or "decode_head.conv_seg.weight" not in state_dict:
        if _is_coc_backbone(state_dict):
            raise ValueError(f"{what}: this is a CoC ImageNet checkpoint (no 'backbone.' prefix, no "
                             "'decode_head.*'); use the 'coc-imagenet' converter")
        raise ValueError(
            f"{what}: not an mmseg Context Cluster segmentation checkpoint: expected "
            "'backbone.patch_embed.proj.weight' with 5 input channels, 'backbone.network.*' and "
            f"'decode_head.conv_seg.weight'; found {_describe(state_dict)}"
        )
    prefix = "backbone.bottom_up."
    variant, expected = _expected_backbone(backbone)
    mapped, unused, squeezed, notes = _backbone_tensors(backbone, prefix, expected)
    unused = ["backbone." + k for k in unused]
    head_keys = set(semantic_fpn_keys())
    for key, tensor in state_dict.items():
        if key.startswith("backbone."):
            continue
        new_key = None
        for pattern, rename in _MMSEG_RULES:
            match = pattern.match(key)
            if match:
                new_key = rename(match)
                break
        if new_key in head_keys and torch.is_tensor(tensor):
            mapped[new_key] = tensor
        else:
            unused.append(key)
    expected_keys = [prefix + k for k in expected] + semantic_fpn_keys()
    missing = [k for k in expected_keys if k not in mapped]
    notes = [_variant_note(variant, "the checkpoint's backbone")] + notes
    notes.append(f"{state_dict['decode_head.conv_seg.weight'].shape[0]} classes")
    meta = checkpoint.get("meta") if isinstance(checkpoint, dict) else None
    if isinstance(meta, dict) and "mmseg_version" in meta:
        notes.append(f"written by mmseg {meta['mmseg_version']}")
    if squeezed:
        notes.append(f"squeezed {squeezed} 4-D 1x1-conv MLP weights to Linear")
    notes.append("the authors' ADE20K checkpoints were trained with the first-release normaliser: build "
                 "the backbone with agg_norm='count'")
    return ConversionResult(state_dict=mapped, unused_keys=unused, missing_keys=missing, notes=notes)
