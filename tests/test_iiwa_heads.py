"""IIWA fusion neck and decoder (docs/iiwa_reconstruction.md): parameter counts, shapes, wiring, embeddings,
errors."""
import pytest
import torch
from detectron2.layers import NaiveSyncBatchNorm
from torch import nn

from ctxseg.layers import Linear, window_grid_size
from ctxseg.modeling.backbone import IIWAFusionNeck
from ctxseg.modeling.heads import IIWADecoderHead
from ctxseg.modeling.meta_arch import EncoderDecoderSegmentor

from .iiwa_fakes import RandomSwinFeatures, TinyDilatedSwin

ADE_512 = [(4, 4), (8, 8), (4, 4), (4, 4), (4, 4), (4, 4)]
ADE_576 = [(6, 6), (12, 12), (6, 6), (6, 6), (6, 6), (6, 6)]
CITYSCAPES = [(4, 8), (8, 16), (4, 8), (4, 8), (4, 8), (4, 8)]

# Training crops of every released config: neck windows, decoder window, classes.
CONFIGS = {
    "ade20k_512": dict(patch_sizes=ADE_512, window=(8, 8), classes=150),
    "ade20k_576": dict(patch_sizes=ADE_576, window=(6, 6), classes=150),
    "pascal_480": dict(patch_sizes=ADE_512, window=(6, 6), classes=59),
    "cityscapes_512x1024": dict(patch_sizes=CITYSCAPES, window=(4, 8), classes=19),
}

# The decoder of each config (Swin-B: the true Swin-B dimensions) and its parameter count with the BatchNorm
# and the LayerNorm embeddings: each "bn" embedding has no bias before its norm, D = query_dim fewer.
DECODERS = {
    "swin_s_ade20k": (dict(num_classes=150), 11_371_756, 11_372_780),
    "swin_b_ade20k": (dict(num_classes=150, embed_dim=256, query_dim=256, memory_dims=(128, 256, 512),
                           depths=(1, 1, 1)), 8_020_060, 8_021_084),
    "swin_l_ade20k": (dict(num_classes=150, embed_dim=384, query_dim=384, memory_dims=(192, 384, 768),
                           depths=(1, 1, 1)), 17_947_356, 17_948_892),
    "swin_s_cityscapes": (dict(num_classes=19, window_size_q=(4, 8), window_size_k=(4, 8)), 11_279_974, 11_280_998),
    "swin_s_pascal": (dict(num_classes=59, window_size_q=(6, 6), window_size_k=(6, 6)), 11_306_678, 11_307_702),
    "toy": (dict(num_classes=7, embed_dim=64, query_dim=64, memory_dims=(32, 64, 128), depths=(1,), num_heads=4,
                 window_size_q=(4, 4), window_size_k=(4, 4)), 236_118, 236_374),
}


def count(module):
    return sum(p.numel() for p in module.parameters())


def tiny_neck(patch_sizes=ADE_512, embed_dim=8, **kwargs):
    return IIWAFusionNeck(bottom_up=TinyDilatedSwin(embed_dim), patch_sizes=patch_sizes, **kwargs)


def tiny_head(num_classes=5, window=(8, 8), **kwargs):
    options = dict(embed_dim=8, query_dim=16, memory_dims=(8, 16, 32), depths=(1, 1), num_heads=4)
    options.update(kwargs)
    return IIWADecoderHead(num_classes=num_classes, window_size_q=window, window_size_k=window, **options)


# ------------------------------------------------------------------------------------------ counts
@pytest.mark.parametrize("embed_dim, fusions, total", [
    (96, [140_256, 556_992, 2_219_904], 2_917_152),
    (128, [248_448, 988_416, 3_942_912], 5_179_776),
    (192, [556_992, 2_219_904, 8_863_488], 11_640_384),
])
def test_fusion_neck_parameter_counts(embed_dim, fusions, total):
    neck = IIWAFusionNeck(bottom_up=RandomSwinFeatures(embed_dim), patch_sizes=ADE_512)
    assert [count(f) for f in neck.fusions] == fusions
    assert count(neck) == total


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DECODERS))
def test_decoder_parameter_counts(name):
    kwargs, bn, ln = DECODERS[name]
    assert count(IIWADecoderHead(**kwargs)) == bn  # "bn" is the default
    assert count(IIWADecoderHead(embed_norm="ln", **kwargs)) == ln
    assert ln - bn == 4 * IIWADecoderHead(**kwargs).query_proj.out_channels


@pytest.mark.parametrize("embed_norm, query, memory", [("bn", 197_120, 173_568), ("ln", 197_376, 174_336)])
def test_decoder_parameter_breakdown_swin_s(embed_norm, query, memory):
    """The itemised count of the Swin-S ADE20K decoder (README table)."""
    head = IIWADecoderHead(num_classes=150, embed_norm=embed_norm)
    parts = {
        "query": count(head.query_proj) + count(head.query_norm),
        "memory": count(head.memory_projs) + count(head.memory_norms),
        "blocks": count(head.blocks),
        "head_proj": count(head.head_proj), "expand": count(head.expand),
        "expand_norm": count(head.expand_norm), "classifier": count(head.classifier),
        "aux": count(head.aux_classifier),
    }
    assert parts == {"query": query, "memory": memory, "blocks": 8_446_016, "head_proj": 98_688,
                     "expand": 2_359_296, "expand_norm": 768, "classifier": 57_750, "aux": 38_550}
    assert len(head.blocks) == 4
    assert [count(b.self_attn) for b in head.blocks] == [1_055_752] * 4
    assert [count(b.cross_attn) for b in head.blocks] == [1_055_752] * 4


# ------------------------------------------------------------------------------------------ shapes
@pytest.mark.slow
def test_full_size_swin_s_ade20k_shapes():
    """The one full-width forward: Swin-S ADE20K at 512x512, one image."""
    neck = IIWAFusionNeck(bottom_up=RandomSwinFeatures(96), patch_sizes=ADE_512).eval()
    head = IIWADecoderHead(num_classes=150).eval()
    with torch.no_grad():
        features = neck(torch.zeros(1, 3, 512, 512))
        assert {k: tuple(v.shape) for k, v in features.items()} == {
            "f0": (1, 96, 128, 128), "f1": (1, 192, 64, 64), "f2": (1, 384, 64, 64), "res5": (1, 768, 64, 64)}
        key_windows, key_tokens = head.memory_windows(features)
        assert key_windows.shape == (1, 384, 8, 8, 256) and key_tokens.shape == (1, 384, 256)
        logits, aux = head(features)
    assert logits.shape == (1, 150, 256, 256) and aux.shape == (1, 150, 64, 64)
    assert torch.isfinite(logits).all() and torch.isfinite(aux).all()


@pytest.mark.parametrize("name, size, batch, expected_windows", [
    ("ade20k_512", (512, 512), 2, (64, 384)),
    ("ade20k_576", (576, 576), 1, (144, 864)),
    ("pascal_480", (480, 480), 1, (100, 600)),
    ("cityscapes_512x1024", (512, 1024), 1, (256, 1536)),
    # Not multiples of the windows: 1/4 map 125x118, 1/8 map 63x59.
    ("ade20k_512", (500, 470), 1, (64, 240 + 64 + 64)),
    ("ade20k_576", (500, 470), 1, (110, 420 + 110 + 110)),
])
@pytest.mark.slow
def test_shapes_at_training_crops(name, size, batch, expected_windows):
    """Shapes with tiny widths and the real windows and strides (shapes do not depend on widths)."""
    cfg = CONFIGS[name]
    torch.manual_seed(0)
    neck = tiny_neck(cfg["patch_sizes"]).eval()
    head = tiny_head(cfg["classes"], cfg["window"]).eval()
    h, w = size
    h4, w4 = -(-h // 4), -(-w // 4)
    h8, w8 = -(-h4 // 2), -(-w4 // 2)
    with torch.no_grad():
        features = neck(torch.randn(batch, 3, h, w))
        assert {k: tuple(v.shape) for k, v in features.items()} == {
            "f0": (batch, 8, h4, w4), "f1": (batch, 16, h8, w8), "f2": (batch, 32, h8, w8),
            "res5": (batch, 64, h8, w8)}
        key_windows, _ = head.memory_windows(features)
        logits, aux = head(features)
    query_windows = window_grid_size(h8, w8, cfg["window"])
    assert (query_windows[0] * query_windows[1], key_windows.shape[1]) == expected_windows
    assert logits.shape == (batch, cfg["classes"], 4 * h8, 4 * w8)
    assert aux.shape == (batch, cfg["classes"], h8, w8)
    assert torch.isfinite(logits).all()


@pytest.mark.slow
def test_segmentor_predicts_at_any_input_size():
    """size_divisibility 0: a 500x470 image goes through unpadded and comes back at its size."""
    torch.manual_seed(0)
    neck = tiny_neck()
    assert neck.size_divisibility == 0
    model = EncoderDecoderSegmentor(backbone=neck, head=tiny_head(5), num_classes=5).eval()
    image = torch.randint(0, 256, (3, 500, 470), dtype=torch.uint8)
    with torch.no_grad():
        probs = model([{"image": image, "height": 500, "width": 470}])[0]["sem_seg"]
    assert probs.shape == (5, 500, 470)
    torch.testing.assert_close(probs.sum(0), torch.ones(500, 470))


# ------------------------------------------------------------------------------------------ wiring
def test_neck_output_shape_and_names():
    neck = IIWAFusionNeck(bottom_up=RandomSwinFeatures(96), patch_sizes=ADE_512)
    shapes = {k: (v.channels, v.stride) for k, v in neck.output_shape().items()}
    assert shapes == {"f0": (96, 4), "f1": (192, 8), "f2": (384, 8), "res5": (768, 8)}
    names = [n for n, _ in neck.named_parameters()]
    assert "fusions.0.q_lin.weight" in names and "fusions.2.proj1.1.weight" in names
    assert all(n.startswith("fusions.") for n in names)  # the fake backbone has no parameters
    fusion0 = neck.fusions[0]
    assert (fusion0.in_chans1, fusion0.in_chans2, fusion0.nhead, fusion0.win_size_k, fusion0.win_size_q) == \
        (192, 96, 4, (4, 4), (8, 8))
    assert (neck.fusions[2].in_chans1, neck.fusions[2].nhead) == (768, 16)
    tiny = tiny_neck()
    assert any(n.startswith("bottom_up.stem.") for n, _ in tiny.named_parameters())


def test_neck_is_a_top_down_cascade():
    """Fusion 2 fuses res5 into res4, fusion 1 takes F2 as key, fusion 0 takes F1 (a top-down cascade)."""
    neck = tiny_neck().eval()
    seen = {}
    for i, fusion in enumerate(neck.fusions):
        fusion.register_forward_hook(lambda m, args, out, i=i: seen.__setitem__(i, (args, out)))
    with torch.no_grad():
        features = neck(torch.randn(1, 3, 64, 96))
    assert seen[2][0][0] is features["res5"]
    assert seen[1][0][0] is seen[2][1] is features["f2"]
    assert seen[0][0][0] is seen[1][1] is features["f1"]
    assert seen[0][1] is features["f0"]
    assert seen[2][0][1].shape[1] == 32 and seen[1][0][1].shape[1] == 16 and seen[0][0][1].shape[1] == 8


def test_decoder_query_comes_from_the_top_map_and_aux_ignores_memories():
    torch.manual_seed(0)
    neck, head = tiny_neck().eval(), tiny_head().eval()
    with torch.no_grad():
        features = neck(torch.randn(1, 3, 64, 96))
        logits, aux = head(features)
        # Every memory changed: whichever windows the matching picks, the logits must follow.
        changed = dict(features, **{f"f{i}": features[f"f{i}"] + torch.randn_like(features[f"f{i}"]) for i in range(3)})
        logits2, aux2 = head(changed)
        top_changed = dict(features, res5=-features["res5"])
        logits3, aux3 = head(top_changed)
    torch.testing.assert_close(aux2, aux)
    assert not torch.allclose(logits2, logits)
    assert not torch.allclose(aux3, aux) and not torch.allclose(logits3, logits)


def test_memories_are_projected_once_per_forward():
    torch.manual_seed(0)
    neck, head = tiny_neck().eval(), tiny_head(depths=(2, 1)).eval()
    calls = []
    for proj in head.memory_projs:
        proj.register_forward_hook(lambda m, a, o: calls.append(m))
    with torch.no_grad():
        head(neck(torch.randn(1, 3, 64, 96)))
    assert len(head.blocks) == 3 and len(calls) == 3 and len(set(map(id, calls))) == 3


EMBEDDING_NORMS = ["memory_norms.0", "memory_norms.1", "memory_norms.2", "query_norm"]


@pytest.mark.parametrize("embed_norm, norm_type, proj_type, proj_std", [
    ("bn", NaiveSyncBatchNorm, nn.Conv2d, (2 / 256) ** 0.5),  # kaiming normal, fan out 256
    ("ln", nn.LayerNorm, Linear, 0.02),
])
def test_decoder_embeddings(embed_norm, norm_type, proj_type, proj_std):
    head = IIWADecoderHead(num_classes=150, embed_norm=embed_norm)
    assert sorted(n for n, m in head.named_modules() if isinstance(m, norm_type) and n in EMBEDDING_NORMS) == \
        EMBEDDING_NORMS
    for proj in [head.query_proj, *head.memory_projs]:
        assert type(proj) is proj_type and (proj.bias is None) == (embed_norm == "bn")
    assert abs(head.query_proj.weight.std().item() - proj_std) < 0.1 * proj_std
    own = [n for n, m in head.named_modules() if isinstance(m, nn.LayerNorm) and not n.startswith("blocks.")]
    assert sorted(own) == ["expand_norm"] + (EMBEDDING_NORMS if embed_norm == "ln" else [])
    torch.manual_seed(0)
    features = {"res5": torch.randn(2, 768, 8, 8), "f0": torch.randn(2, 96, 16, 16),
                "f1": torch.randn(2, 192, 8, 8), "f2": torch.randn(2, 384, 8, 8)}
    head.train()
    with torch.no_grad():
        query = head.embed_query(features)
    assert query.shape == (2, 8, 8, 256)
    # Both normalise: per token over channels (LayerNorm) or per channel over batch and positions (BatchNorm).
    dims = (-1,) if embed_norm == "ln" else (0, 1, 2)
    torch.testing.assert_close(query.mean(dims), torch.zeros_like(query.mean(dims)), atol=1e-4, rtol=0)
    torch.testing.assert_close(query.var(dims, unbiased=False), torch.ones_like(query.mean(dims)), atol=1e-3, rtol=0)


def test_no_layernorm_directly_follows_another_layernorm():
    """The auxiliary classifier reads the query embedding and the head's projection reads the last block's
    output (which ends with a LayerNorm), with no second LayerNorm in between."""
    torch.manual_seed(0)
    neck, head = tiny_neck().eval(), tiny_head(embed_norm="ln").eval()
    seen = {}
    head.aux_classifier.register_forward_pre_hook(lambda m, args: seen.__setitem__("aux_in", args[0]))
    head.head_proj.register_forward_pre_hook(lambda m, args: seen.__setitem__("head_in", args[0]))
    head.blocks[-1].register_forward_hook(lambda m, args, out: seen.__setitem__("blocks_out", out))
    with torch.no_grad():
        features = neck(torch.randn(1, 3, 64, 96))
        head(features)
        torch.testing.assert_close(seen["aux_in"], head.embed_query(features))
    assert seen["head_in"] is seen["blocks_out"]
    assert isinstance(head.blocks[-1].cross_attn.norm2, nn.LayerNorm)


def test_decoder_init():
    head = IIWADecoderHead(num_classes=150)
    assert abs(head.blocks[0].self_attn.qkv.weight.std().item() - 0.02) < 0.002
    assert head.blocks[0].cross_attn.q_lin.bias.abs().max() == 0
    assert abs(head.classifier.weight.std().item() - 0.01) < 0.002 and head.classifier.bias.abs().max() == 0
    # bias tables keep the released inits: truncated normal for Self-IIWA, zeros for MS Cross-IIWA
    assert head.blocks[0].self_attn.relative_position_bias_table.std() > 0.01
    assert head.blocks[0].cross_attn.relative_position_bias_table.abs().max() == 0
    # drop path: linear from 0 to 0.2 over the 4 blocks, shared by both layers of a block
    rates = [getattr(b.self_attn.drop_path, "drop_prob", 0.0) for b in head.blocks]
    assert rates == pytest.approx([0.0, 0.2 / 3, 0.4 / 3, 0.2])
    assert [getattr(b.cross_attn.drop_path, "drop_prob", 0.0) for b in head.blocks] == rates


def test_neck_keeps_the_released_cross_iiwa_init():
    neck = IIWAFusionNeck(bottom_up=RandomSwinFeatures(96), patch_sizes=ADE_512)
    weight = neck.fusions[0].q_lin.weight  # xavier normal: std sqrt(2 / (96 + 96))
    assert abs(weight.std().item() - (2 / 192) ** 0.5) < 0.01


def test_fusion_ffn_option():
    neck = IIWAFusionNeck(bottom_up=RandomSwinFeatures(96), patch_sizes=ADE_512, ffn_dims=[192, 384, 768])
    extra = count(neck) - 2_917_152
    assert extra == sum(2 * d + (d * 2 * d + 2 * d) + (2 * d * d + d) for d in (96, 192, 384))
    tiny = tiny_neck(ffn_dims=[16, 32, 64]).eval()
    with torch.no_grad():
        assert tiny(torch.randn(1, 3, 64, 96))["f0"].shape == (1, 8, 16, 24)


# ------------------------------------------------------------------------------------------ errors
def test_neck_errors():
    backbone = RandomSwinFeatures(96)
    with pytest.raises(ValueError, match=r"fusion 0 .* patch_sizes\[0\] and patch_sizes\[1\]"):
        IIWAFusionNeck(bottom_up=backbone, patch_sizes=[(8, 8), (8, 8)] + [(4, 4)] * 4)
    with pytest.raises(ValueError, match="patch_sizes must have 6 entries"):
        IIWAFusionNeck(bottom_up=backbone, patch_sizes=ADE_512[:4])
    with pytest.raises(ValueError, match="ffn_dims must have 3 entries"):
        IIWAFusionNeck(bottom_up=backbone, ffn_dims=[192, 384])
    with pytest.raises(ValueError, match=r"bottom_up has no output \['p5'\]"):
        IIWAFusionNeck(bottom_up=backbone, in_features=("res2", "res3", "res4", "p5"))


# Upstream config keys with no effect in the reconstruction (projects/IIWA/README.md maps the others).
@pytest.mark.parametrize("key, value", [
    ("adapt_size1", (16, 16)), ("adapt_size2", (16, 16)), ("upsample_cfg", {"mode": "nearest"}),
    ("norm_cfg", {"type": "BN"}), ("out_channels", 512), ("num_outs", 3), ("cascade_num", 1), ("out_type", "2"),
    ("pos_type", "sin"), ("overlap", False), ("extra_out", False), ("d_models", [96, 192, 384]),
    ("dim_feedforwards", [192, 384, 768]), ("in_channels", [96, 192, 384, 768]),
])
def test_neck_rejects_upstream_arguments_without_effect(key, value):
    with pytest.raises(TypeError, match=key):
        IIWAFusionNeck(bottom_up=RandomSwinFeatures(96), **{key: value})


@pytest.mark.parametrize("key, value", [("ape", False), ("aux_classes", 150), ("patch_norm", True),
                                        ("norm_layer", nn.LayerNorm), ("sampler", None), ("loss_decode", None)])
def test_decoder_rejects_upstream_arguments_without_effect(key, value):
    with pytest.raises(TypeError, match=key):
        IIWADecoderHead(num_classes=150, **{key: value})


def test_neck_strides_follow_the_bottom_up():
    """On a standard pyramid (strides 4, 8, 16, 32) the windows of every pair must scale with the strides."""
    backbone = RandomSwinFeatures(32, strides=(4, 8, 16, 32))
    neck = IIWAFusionNeck(bottom_up=backbone, patch_sizes=[(4, 4), (8, 8)] * 3).eval()
    assert {k: v.stride for k, v in neck.output_shape().items()} == {"f0": 4, "f1": 8, "f2": 16, "res5": 32}
    with torch.no_grad():
        out = neck(torch.zeros(1, 3, 96, 160))
    assert out["f2"].shape == (1, 128, 6, 10) and out["res5"].shape == (1, 256, 3, 5)
    with pytest.raises(ValueError, match="fusion 1"):
        IIWAFusionNeck(bottom_up=backbone, patch_sizes=ADE_512)


def test_decoder_errors():
    with pytest.raises(ValueError, match=r"num_heads must be an int or have one entry per layer \(len\(depths\)=4\)"):
        IIWADecoderHead(num_classes=150, num_heads=[8, 8])
    with pytest.raises(ValueError, match=r"embed_norm must be one of \('bn', 'ln'\), got 'gn'"):
        IIWADecoderHead(num_classes=150, embed_norm="gn")
    with pytest.raises(ValueError, match="memory_dims"):
        IIWADecoderHead(num_classes=150, memory_dims=(96, 192))
    head = tiny_head()
    features = {"f0": torch.zeros(1, 8, 16, 16), "f1": torch.zeros(1, 16, 8, 8), "f2": torch.zeros(1, 32, 8, 8)}
    with pytest.raises(KeyError, match="feature 'res5' missing"):
        head(features)
    with pytest.raises(ValueError, match=r"feature 'res5' must be \(B, 64, H, W\), got \(1, 32, 8, 8\)"):
        head(dict(features, res5=torch.zeros(1, 32, 8, 8)))
    assert head.query_in_channels == 64  # 2 * memory_dims[-1]
    assert tiny_head(query_in_channels=48).query_proj.in_channels == 48
