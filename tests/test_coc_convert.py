"""Context Cluster converters: authors' ImageNet checkpoints and mmseg Semantic FPN checkpoints."""
import pytest
import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling import FPN
from detectron2.modeling.meta_arch.semantic_seg import SemSegFPNHead

import ctxseg  # noqa: F401  (patches Detectron2 before it is used)
from ctxseg.checkpoint import convert_file, converter_names
from ctxseg.checkpoint.coc import convert_coc_imagenet, convert_coc_mmseg, infer_coc_arch
from ctxseg.modeling.backbone.context_cluster import D2ContextCluster, coc_small

TINY = dict(depths=(1, 1, 2, 1), embed_dims=(16, 32, 48, 64), mlp_ratios=2, heads=(2, 2, 4, 4), head_dim=8)
NEW_NORMS = [f"norm{i}.{p}" for i in (0, 2, 4, 6) for p in ("weight", "bias")]


def randomised(model):
    """The model's state dict with every tensor random (so a wrong mapping cannot go unnoticed)."""
    return {k: torch.randn(v.shape) for k, v in model.state_dict().items()}


def official_imagenet(backbone_sd, with_new_norms=False):
    """An official-format classification checkpoint: DDP prefix, 4-D MLP weights, classifier head."""
    state = {}
    for key, tensor in backbone_sd.items():
        if key in NEW_NORMS and not with_new_norms:
            continue
        if ".mlp.fc" in key and key.endswith(".weight"):
            tensor = tensor[:, :, None, None]
        state["module." + key] = tensor
    width = backbone_sd["norm6.weight"].shape[0]
    state.update({"module.norm.weight": torch.ones(width), "module.norm.bias": torch.zeros(width),
                  "module.head.weight": torch.randn(1000, width), "module.head.bias": torch.randn(1000)})
    return {"state_dict": state, "epoch": 299, "arch": "coc_small"}


def test_converters_registered():
    assert {"coc-imagenet", "coc-mmseg"} <= set(converter_names())


def test_imagenet_tiny_converts_and_loads():
    source = randomised(D2ContextCluster(**TINY))
    result = convert_coc_imagenet(official_imagenet(source), prefix="")
    assert sorted(result.unused_keys) == ["head.bias", "head.weight", "norm.bias", "norm.weight"]
    assert sorted(result.missing_keys) == sorted(NEW_NORMS)
    assert any("squeezed 10 4-D" in n for n in result.notes)

    target = D2ContextCluster(**TINY, proposal_size=5)
    incompatible = target.load_state_dict(result.state_dict, strict=False)
    assert sorted(incompatible.missing_keys) == sorted(NEW_NORMS) and not incompatible.unexpected_keys
    for key, tensor in target.state_dict().items():
        if key not in NEW_NORMS:
            assert torch.equal(tensor, source[key]), key


@pytest.mark.slow
def test_imagenet_with_dense_norms_loads_strictly_and_matches():
    model = coc_small().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))  # move layer scales etc. away from their init
    checkpoint = official_imagenet(model.state_dict(), with_new_norms=True)
    checkpoint = {"model": checkpoint["state_dict"]}  # the "model" container
    result = convert_coc_imagenet(checkpoint)
    assert all(k.startswith("backbone.bottom_up.") for k in result.state_dict)
    assert not result.missing_keys
    assert any("CoC-Small" in n for n in result.notes)
    stripped = {k[len("backbone.bottom_up."):]: v for k, v in result.state_dict.items()}
    target = coc_small().eval()
    target.load_state_dict(stripped, strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(model(x).values(), target(x).values()):
            assert torch.equal(a, b)


def test_imagenet_raw_container_and_convert_file(tmp_path):
    source = randomised(D2ContextCluster(**TINY))
    raw = {k[len("module."):]: v for k, v in official_imagenet(source)["state_dict"].items()}
    path = tmp_path / "model_best.pth.tar"
    torch.save(raw, path)
    convert_file("coc-imagenet", str(path), str(tmp_path / "out.pth"))
    saved = torch.load(tmp_path / "out.pth", weights_only=True)["model"]
    assert len(saved) == len(source) - len(NEW_NORMS)
    assert torch.equal(saved["backbone.bottom_up.network.0.0.mlp.fc1.weight"], source["network.0.0.mlp.fc1.weight"])


def test_infer_arch():
    assert infer_coc_arch(coc_small().state_dict())[0] == "small"
    variant, kwargs = infer_coc_arch(D2ContextCluster(**TINY).state_dict())
    assert variant is None
    assert list(kwargs["depths"]) == [1, 1, 2, 1] and list(kwargs["embed_dims"]) == [16, 32, 48, 64]
    assert list(kwargs["head_dim"]) == [16, 16, 32, 32]


@pytest.mark.parametrize("checkpoint, message", [
    ({"state_dict": {"patch_embed.proj.weight": torch.zeros(96, 3, 4, 4)}}, "not a Context Cluster"),
    ({"model": {"conv1.weight": torch.zeros(64, 3, 7, 7)}}, "not a Context Cluster"),
    ([1, 2, 3], "expected the checkpoint to be a dict"),
])
def test_imagenet_refuses_other_checkpoints(checkpoint, message):
    with pytest.raises(ValueError, match=message):
        convert_coc_imagenet(checkpoint)


# ---- mmseg -----------------------------------------------------------------------------------------

FPN_CHANNELS, HEAD_CHANNELS, NUM_CLASSES = 24, 16, 5
CONVS_PER_LEVEL = {0: (0,), 1: (0,), 2: (0, 2), 3: (0, 2, 4)}


def mmseg_state_dict(backbone_sd):
    """Random tensors under the mmseg 0.x names of CoC + FPN + FPNHead."""
    state = {}
    for key, tensor in backbone_sd.items():
        if ".mlp.fc" in key and key.endswith(".weight"):
            tensor = tensor[:, :, None, None]
        state["backbone." + key] = tensor
    in_channels = [backbone_sd[f"norm{2 * i}.weight"].shape[0] for i in range(4)]
    for i, channels in enumerate(in_channels):
        state[f"neck.lateral_convs.{i}.conv.weight"] = torch.randn(FPN_CHANNELS, channels, 1, 1)
        state[f"neck.lateral_convs.{i}.conv.bias"] = torch.randn(FPN_CHANNELS)
        state[f"neck.fpn_convs.{i}.conv.weight"] = torch.randn(FPN_CHANNELS, FPN_CHANNELS, 3, 3)
        state[f"neck.fpn_convs.{i}.conv.bias"] = torch.randn(FPN_CHANNELS)
    for i, convs in CONVS_PER_LEVEL.items():
        for j in convs:
            prefix = f"decode_head.scale_heads.{i}.{j}"
            state[f"{prefix}.conv.weight"] = torch.randn(HEAD_CHANNELS, FPN_CHANNELS if j == 0 else HEAD_CHANNELS,
                                                         3, 3)
            for name in ("weight", "bias", "running_mean", "running_var"):
                state[f"{prefix}.bn.{name}"] = torch.randn(HEAD_CHANNELS)
            state[f"{prefix}.bn.num_batches_tracked"] = torch.tensor(80000)
    state["decode_head.conv_seg.weight"] = torch.randn(NUM_CLASSES, HEAD_CHANNELS, 1, 1)
    state["decode_head.conv_seg.bias"] = torch.randn(NUM_CLASSES)
    return state


def expected_mmseg_mapping(backbone_sd):
    """mmseg key -> ctxseg key, written out by hand from the task statement."""
    mapping = {"backbone." + k: "backbone.bottom_up." + k for k in backbone_sd}
    for i in range(4):
        for p in ("weight", "bias"):
            mapping[f"neck.lateral_convs.{i}.conv.{p}"] = f"backbone.fpn_lateral{i + 2}.{p}"
            mapping[f"neck.fpn_convs.{i}.conv.{p}"] = f"backbone.fpn_output{i + 2}.{p}"
    for i, convs in CONVS_PER_LEVEL.items():
        for j in convs:
            mapping[f"decode_head.scale_heads.{i}.{j}.conv.weight"] = f"sem_seg_head.p{i + 2}.{j}.weight"
            for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                mapping[f"decode_head.scale_heads.{i}.{j}.bn.{p}"] = f"sem_seg_head.p{i + 2}.{j}.norm.{p}"
    mapping["decode_head.conv_seg.weight"] = "sem_seg_head.predictor.weight"
    mapping["decode_head.conv_seg.bias"] = "sem_seg_head.predictor.bias"
    return mapping


def test_mmseg_key_mapping_exact():
    backbone_sd = randomised(D2ContextCluster(**TINY))
    source = mmseg_state_dict(backbone_sd)
    source["auxiliary_head.conv_seg.weight"] = torch.randn(NUM_CLASSES, 8, 1, 1)
    checkpoint = {"state_dict": source, "meta": {"mmseg_version": "0.19.0"}}
    result = convert_coc_mmseg(checkpoint)

    mapping = expected_mmseg_mapping(backbone_sd)
    assert len(mapping) == len(backbone_sd) + 60
    assert set(result.state_dict) == set(mapping.values())
    for old, new in mapping.items():
        expected = source[old]
        if expected.dim() == 4 and ".mlp.fc" in old:
            expected = expected[:, :, 0, 0]
        assert torch.equal(result.state_dict[new], expected), old
    assert result.unused_keys == ["auxiliary_head.conv_seg.weight"]
    assert not result.missing_keys
    assert any("mmseg 0.19.0" in n for n in result.notes) and any("5 classes" in n for n in result.notes)
    assert any("agg_norm='count'" in n for n in result.notes)


def test_mmseg_result_loads_into_detectron2_fpn_and_head():
    bottom_up = D2ContextCluster(**TINY)
    result = convert_coc_mmseg({"state_dict": mmseg_state_dict(randomised(bottom_up))})
    fpn = FPN(bottom_up=bottom_up, in_features=["res2", "res3", "res4", "res5"], out_channels=FPN_CHANNELS,
              norm="", top_block=None, fuse_type="sum")
    fpn.load_state_dict({k[len("backbone."):]: v for k, v in result.state_dict.items()
                         if k.startswith("backbone.")}, strict=True)
    head = SemSegFPNHead({f"p{i}": ShapeSpec(channels=FPN_CHANNELS, stride=2 ** i) for i in (2, 3, 4, 5)},
                         num_classes=NUM_CLASSES, conv_dims=HEAD_CHANNELS, common_stride=4, norm="BN")
    head.load_state_dict({k[len("sem_seg_head."):]: v for k, v in result.state_dict.items()
                          if k.startswith("sem_seg_head.")}, strict=True)


def test_mmseg_reports_missing_keys():
    source = mmseg_state_dict(randomised(D2ContextCluster(**TINY)))
    del source["decode_head.scale_heads.3.4.bn.running_var"]
    del source["backbone.norm4.bias"]
    result = convert_coc_mmseg({"state_dict": source})
    assert sorted(result.missing_keys) == ["backbone.bottom_up.norm4.bias", "sem_seg_head.p5.4.norm.running_var"]


def test_mmseg_and_imagenet_refuse_each_other():
    backbone_sd = randomised(D2ContextCluster(**TINY))
    with pytest.raises(ValueError, match="coc-imagenet"):
        convert_coc_mmseg(official_imagenet(backbone_sd))
    with pytest.raises(ValueError, match="coc-mmseg"):
        convert_coc_imagenet({"state_dict": mmseg_state_dict(backbone_sd)})
    with pytest.raises(ValueError, match="not an mmseg Context Cluster"):
        convert_coc_mmseg({"state_dict": {"backbone.conv1.weight": torch.zeros(1)}})


def test_unknown_options_are_refused_clearly():
    backbone_sd = randomised(D2ContextCluster(**TINY))
    with pytest.raises(TypeError, match="takes no options, got \\['prefix'\\]"):
        convert_coc_mmseg({"state_dict": mmseg_state_dict(backbone_sd)}, prefix="backbone.")
    with pytest.raises(TypeError, match="only the option 'prefix'"):
        convert_coc_imagenet(official_imagenet(backbone_sd), window_size=7)
