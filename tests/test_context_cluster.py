"""Context Cluster backbone: golden equivalence with the authors' code, sizes, shapes, errors."""
import os

import pytest
import torch
from detectron2.config import LazyCall as L
from detectron2.config import get_cfg, instantiate
from detectron2.modeling import BACKBONE_REGISTRY, build_backbone

import ctxseg  # noqa: F401  (patches Detectron2 before it is used)
from ctxseg.config import add_ctxseg_config
from ctxseg.modeling.backbone.context_cluster import Cluster, ContextCluster, D2ContextCluster, coc_medium, coc_small

GOLDEN_DIR = os.path.join(os.path.dirname(__file__), "data", "coc")
GOLDEN_FILES = ["coc_p2_count.pt", "coc_p2_sim.pt", "coc_p5_sim.pt", "coc_p7_count.pt"]
# A tiny architecture like the golden models', for fast shape tests.
TINY = dict(depths=(1, 1, 2, 1), embed_dims=(16, 32, 48, 64), mlp_ratios=2, heads=(2, 2, 4, 4), head_dim=8)


def load_golden(name):
    return torch.load(os.path.join(GOLDEN_DIR, name), weights_only=True)


def build_from_golden(golden, agg_norm=None):
    """D2ContextCluster with the official constructor arguments stored in a golden file."""
    k = golden["kwargs"]
    assert k["proposal_w"] == k["proposal_h"] and k["fold_w"] == k["fold_h"]
    return D2ContextCluster(depths=k["layers"], embed_dims=k["embed_dims"], mlp_ratios=k["mlp_ratios"],
                            heads=k["heads"], head_dim=k["head_dim"], proposal_size=k["proposal_w"],
                            fold=k["fold_w"], agg_norm=agg_norm or golden["agg_norm"])


@pytest.mark.parametrize("name", GOLDEN_FILES)
def test_golden_outputs_float64(name):
    golden = load_golden(name)
    model = build_from_golden(golden).double().eval()
    model.load_state_dict(golden["state_dict"], strict=True)
    with torch.no_grad():
        outputs = model(golden["input"])
    assert list(outputs) == ["res2", "res3", "res4", "res5"]
    for (feature, out), expected in zip(outputs.items(), golden["outputs"]):
        assert out.shape == expected.shape, feature
        assert out.dtype == torch.float64
        err = (out - expected).abs().max().item()
        assert err <= 1e-9, f"{name} {feature}: max abs error {err}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["coc_p2_sim.pt", "coc_p7_count.pt"])
def test_other_agg_norm_differs(name):
    golden = load_golden(name)
    other = "count" if golden["agg_norm"] == "sim" else "sim"
    model = build_from_golden(golden, agg_norm=other).double().eval()
    model.load_state_dict(golden["state_dict"], strict=True)
    with torch.no_grad():
        outputs = model(golden["input"])
    for out, expected in zip(outputs.values(), golden["outputs"]):
        assert (out - expected).abs().max().item() > 1e-2


def test_agg_norm_validated():
    with pytest.raises(ValueError, match="agg_norm"):
        D2ContextCluster(**TINY, agg_norm="mean")


@pytest.mark.parametrize("builder, proposals, params, entries", [
    (coc_small, 4, 14_145_048, 232),
    (coc_small, 49, 14_145_048, 232),
    (coc_medium, 25, 28_778_544, 448),
])
@pytest.mark.slow
def test_parameter_counts(builder, proposals, params, entries):
    model = builder(proposals=proposals)
    assert sum(p.numel() for p in model.parameters()) == params
    assert len(model.state_dict()) == entries
    side = {4: 2, 25: 5, 49: 7}[proposals]
    assert all(m.proposal_size == side for m in model.modules() if isinstance(m, Cluster))


@pytest.mark.slow
def test_official_key_names():
    keys = set(coc_small().state_dict())
    for key in ["patch_embed.proj.weight", "network.1.proj.bias", "network.6.1.token_mixer.sim_alpha",
                "network.4.5.token_mixer.f.weight", "network.0.0.layer_scale_2", "network.2.1.mlp.fc2.bias",
                "norm0.weight", "norm6.bias"]:
        assert key in keys, key
    shapes = {k: v.shape for k, v in coc_small().state_dict().items()}
    assert shapes["network.0.0.mlp.fc1.weight"] == (512, 64)
    assert shapes["network.6.0.token_mixer.f.weight"] == (256, 512, 1, 1)


def test_small_output_shapes_and_spec():
    model = coc_small(proposals=25).eval()
    assert model.size_divisibility == 32
    spec = model.output_shape()
    assert [(spec[f].channels, spec[f].stride) for f in ["res2", "res3", "res4", "res5"]] == [
        (64, 4), (128, 8), (320, 16), (512, 32)]
    with torch.no_grad():
        outputs = model(torch.randn(1, 3, 64, 96))
    assert {k: tuple(v.shape) for k, v in outputs.items()} == {
        "res2": (1, 64, 16, 24), "res3": (1, 128, 8, 12), "res4": (1, 320, 4, 6), "res5": (1, 512, 2, 3)}


@pytest.mark.parametrize("height, width", [(32, 32), (64, 160), (96, 128)])
def test_tiny_output_shapes(height, width):
    model = D2ContextCluster(**TINY, proposal_size=5).eval()
    with torch.no_grad():
        outputs = model(torch.randn(2, 3, height, width))
    for (feature, out), stride, channels in zip(outputs.items(), (4, 8, 16, 32), TINY["embed_dims"]):
        assert tuple(out.shape) == (2, channels, height // stride, width // stride), feature
        assert model.output_shape()[feature].stride == stride
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("height, width", [(100, 128), (64, 48), (30, 30)])
def test_bad_input_size_error(height, width):
    model = D2ContextCluster(**TINY)
    with pytest.raises(ValueError, match=rf"input size {height}x{width}.*multiples of 32"):
        model(torch.randn(1, 3, height, width))


def test_wrong_channel_count_error():
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        D2ContextCluster(**TINY)(torch.randn(1, 4, 32, 32))


def test_position_channels():
    x = torch.zeros(2, 3, 5, 9, dtype=torch.float64)
    pos = ContextCluster.position_channels(x)
    assert pos.shape == (2, 2, 5, 9) and pos.dtype == torch.float64 and pos.device == x.device
    assert torch.allclose(pos[0, 0, :, 0], torch.linspace(-0.5, 0.5, 5, dtype=torch.float64))  # rows
    assert torch.allclose(pos[0, 1, 0, :], torch.linspace(-0.5, 0.5, 9, dtype=torch.float64))  # columns
    assert (pos[:, 0] == pos[:, 0, :, :1]).all() and (pos[:, 1] == pos[:, 1, :1, :]).all()


def test_out_features_subset_and_validation():
    model = D2ContextCluster(**TINY, out_features=("res3", "res5")).eval()
    with torch.no_grad():
        outputs = model(torch.randn(1, 3, 32, 64))
    assert list(outputs) == ["res3", "res5"]
    assert set(model.output_shape()) == {"res3", "res5"}
    with pytest.raises(ValueError, match="out_features"):
        D2ContextCluster(**TINY, out_features=("res6",))


def test_invalid_variant_arguments():
    with pytest.raises(ValueError, match="proposals"):
        coc_small(proposals=9)
    with pytest.raises(ValueError, match="depths"):
        D2ContextCluster(depths=(2, 2, 2))


def test_backward_reaches_every_parameter():
    model = D2ContextCluster(**TINY, drop_path_rate=0.1, layer_scale_init=0.5).train()
    outputs = model(torch.randn(2, 3, 32, 32))
    sum(out.square().mean() for out in outputs.values()).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not no_grad
    assert model.network[0][0].token_mixer.sim_alpha.grad.abs().item() > 0
    assert model.network[6][0].drop_path.drop_prob == pytest.approx(0.1)  # the last block gets the full rate


def test_registry_lazyconfig_and_yacs():
    assert BACKBONE_REGISTRY.get("D2ContextCluster") is D2ContextCluster
    lazy = instantiate(L(D2ContextCluster)(**TINY, agg_norm="count"))
    assert isinstance(lazy, D2ContextCluster) and lazy.network[0][0].token_mixer.agg_norm == "count"
    cfg = get_cfg()
    add_ctxseg_config(cfg)
    cfg.MODEL.BACKBONE.NAME = "D2ContextCluster"
    cfg.MODEL.COC.PROPOSALS = 49
    backbone = build_backbone(cfg)
    assert isinstance(backbone, D2ContextCluster)
    assert backbone.network[0][0].token_mixer.proposal_size == 7


def test_cluster_makes_no_points_by_centres_by_channels_tensor():
    # The authors' broadcast-and-sum builds [B', M, N, d] products; the matmul form never does.
    cluster = Cluster(8, heads=2, head_dim=16, proposal_size=7, fold=2).eval()
    x = torch.randn(1, 8, 28, 28)
    big = 1 * 2 * 2 * 2 * 49 * 196 * 16  # B' * M * N * d
    with torch.no_grad(), torch.profiler.profile(record_shapes=True) as prof:
        out = cluster(x)
    assert out.shape == x.shape
    sizes = [torch.Size(s).numel() for event in prof.events() for s in event.input_shapes if s]
    assert sizes and max(sizes) < big // 4
