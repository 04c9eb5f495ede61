"""The released IIWA layers: golden outputs, fingerprints, parameter counts and behaviour measured
by running the released classes (tests/data/iiwa/README.md), fix options and clear errors."""
import math
from pathlib import Path

import pytest
import torch

from ctxseg.layers import CrossIIWA, MultiScaleCrossIIWA, PositionEmbeddingSine, SelfIIWA, key_windows_from_memories

GOLDEN = Path(__file__).parent / "data" / "iiwa"
LAYERS = {"SelfIIWA": SelfIIWA, "MultiScaleCrossIIWA": MultiScaleCrossIIWA, "CrossIIWA": CrossIIWA,
          "PositionEmbeddingSine": PositionEmbeddingSine}


def _assert_close_rel(actual, expected, rel=1e-8):
    assert actual.shape == expected.shape
    err = (actual - expected).abs().max().item()
    assert err <= rel * expected.abs().max().item(), f"max abs error {err:.3e}"


def _run_golden(case):
    """Build the golden case's layer, load its state dict strictly and run it; returns (output, matching)."""
    layer = LAYERS[case["layer"]](**case["kwargs"]).double().eval()
    if case["state_dict"]:
        layer.load_state_dict(case["state_dict"], strict=True)
    inputs = case["inputs"]
    with torch.no_grad():
        if case["layer"] == "MultiScaleCrossIIWA":
            windows, tokens = key_windows_from_memories(inputs["memories"], layer.window_size_k)
            return layer(inputs["query"], windows, tokens, return_matching=True)
        if case["layer"] == "CrossIIWA":
            return layer(inputs["key"], inputs["query"]), None
        return layer(inputs["x"]), None


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.pt")))
def test_golden(name):
    case = torch.load(GOLDEN / f"{name}.pt", weights_only=True)
    case.setdefault("state_dict", {})
    output, matching = _run_golden(case)
    assert output.dtype == torch.float64
    _assert_close_rel(output, case["output"])
    if "matching" in case:
        assert torch.equal(matching.cpu(), case["matching"])


def test_golden_files_present():
    names = {p.stem for p in GOLDEN.glob("*.pt")}
    assert names == {"cross_iiwa", "cross_iiwa_same_scale", "ms_cross_iiwa", "ms_cross_iiwa_pad", "position_sine",
                     "self_iiwa_pad", "self_iiwa_rect"}


# ---- fingerprints of the released layers --------------------------------------------------------------------

def _fill(layer):
    """Fill rule: parameter n with N elements gets 0.05 sin(0.7 k + (sum of char codes of n) mod 1000)."""
    with torch.no_grad():
        for name, param in layer.named_parameters():
            k = torch.arange(param.numel(), dtype=torch.float64)
            param.copy_((0.05 * torch.sin(0.7 * k + sum(map(ord, name)) % 1000)).view_as(param))
    return layer


def _sin_input(shape, f):
    return torch.sin(f * torch.arange(math.prod(shape), dtype=torch.float64)).view(shape)


def _assert_fingerprint(out, shape, total, mean_abs, first, last):
    assert tuple(out.shape) == shape
    flat = out.flatten().double()
    assert flat.sum().item() == pytest.approx(total, abs=1e-9)
    assert flat.abs().mean().item() == pytest.approx(mean_abs, abs=1e-10)
    assert flat[:4].tolist() == pytest.approx(first, abs=6e-9)
    assert flat[-1].item() == pytest.approx(last, abs=6e-9)


def test_fingerprint_self_iiwa_padded():
    layer = _fill(SelfIIWA(32, (4, 4), 4).double().eval())
    with torch.no_grad():
        out = layer(_sin_input((1, 10, 13, 32), 0.01))
    _assert_fingerprint(out, (1, 10, 13, 32), 60.4061870073, 0.0382425403,
                        [0.01306588, 0.02311041, 0.01178552, 0.09353116], -0.01782428)


def test_fingerprint_self_iiwa_rectangular_window():
    layer = _fill(SelfIIWA(32, (2, 4), 4).double().eval())
    with torch.no_grad():
        out = layer(_sin_input((1, 8, 8, 32), 0.02))
    _assert_fingerprint(out, (1, 8, 8, 32), 26.9194994890, 0.0384630902,
                        [0.02327837, 0.02035683, -0.00277071, 0.06402684], -0.03176223)


def test_fingerprint_ms_cross_iiwa():
    layer = _fill(MultiScaleCrossIIWA(32, (4, 4), (4, 4), 4).double().eval())
    memories = [_sin_input((1, 16, 24, 32), 0.003), _sin_input((1, 8, 12, 32), 0.017)]
    windows, tokens = key_windows_from_memories(memories, (4, 4))
    assert tuple(windows.shape) == (1, 30, 4, 4, 32) and tuple(tokens.shape) == (1, 30, 32)
    with torch.no_grad():
        out, matching = layer(_sin_input((1, 8, 12, 32), 0.01), windows, tokens, return_matching=True)
    _assert_fingerprint(out, (1, 8, 12, 32), 59.6430706893, 0.0399831439,
                        [0.04618968, 0.01299151, 0.02191784, 0.04194495], 0.06129015)
    assert matching.tolist() == [[29, 24, 27, 16, 28, 26]]


def test_fingerprint_cross_iiwa():
    layer = _fill(CrossIIWA(64, 32, d_model=32, nhead=4, win_size_k=(2, 2), win_size_q=(4, 4)).double().eval())
    with torch.no_grad():
        out = layer(_sin_input((1, 64, 6, 7), 0.01), _sin_input((1, 32, 12, 14), 0.02))
    _assert_fingerprint(out, (1, 32, 12, 14), 172.2332759759, 0.0428493031,
                        [0.01689722, 0.01735331, 0.0177888, 0.01821134], 0.06725083)


def test_fingerprint_position_embedding():
    out = PositionEmbeddingSine()(torch.zeros(1, 16, 3, 5))
    assert out.dtype == torch.float32 and tuple(out.shape) == (1, 16, 3, 5)
    assert out.sum().item() == pytest.approx(99.9620666504, abs=1e-5)
    assert out.abs().mean().item() == pytest.approx(0.5731826425, abs=1e-7)
    assert out.flatten()[:4].tolist() == pytest.approx([0.86602896] * 4, abs=1e-7)
    assert out.flatten()[-1].item() == pytest.approx(0.99998027, abs=1e-7)


# ---- parameter counts of the released layers -----------------------------------------------------------------

def _count(layer):
    return sum(p.numel() for p in layer.parameters())


@pytest.mark.parametrize("dim,window,expected", [
    (256, (8, 8), 1_055_752), (256, (6, 6), 1_054_920), (256, (4, 8), 1_054_792),
    (384, (8, 8), 2_369_160), (384, (6, 6), 2_368_328), (384, (4, 8), 2_368_200)])
def test_parameter_counts_self_and_ms_cross(dim, window, expected):
    assert _count(SelfIIWA(dim, window, 8)) == expected
    assert _count(MultiScaleCrossIIWA(dim, window, window, 8)) == expected


@pytest.mark.parametrize("fusions,total", [
    ([(192, 96, 4, 140_256), (384, 192, 8, 556_992), (768, 384, 16, 2_219_904)], 2_917_152),
    ([(256, 128, 4, 248_448), (512, 256, 8, 988_416), (1024, 512, 16, 3_942_912)], 5_179_776),
    ([(384, 192, 4, 556_992), (768, 384, 8, 2_219_904), (1536, 768, 16, 8_863_488)], 11_640_384)])
def test_parameter_counts_cross_iiwa(fusions, total):
    counts = []
    for c1, d, heads, expected in fusions:
        count = _count(CrossIIWA(c1, d, d_model=d, nhead=heads, win_size_k=(4, 4), win_size_q=(8, 8)))
        assert count == expected == 7 * d * d + 4 * c1 * d + 21 * d
        counts.append(count)
    assert sum(counts) == total


def test_released_parameter_names():
    self_names = set(SelfIIWA(32, (4, 4), 4).state_dict())
    assert {"relative_position_bias_table", "relative_position_index", "qkv.weight", "qkv2.bias", "proj.0.weight",
            "proj.1.weight", "proj2.1.bias", "norm1.weight", "norm2.bias", "mlp.fc1.weight",
            "mlp.fc2.bias"} <= self_names
    ms_names = set(MultiScaleCrossIIWA(32, (4, 4), (4, 4), 4).state_dict())
    assert {f"{n}_lin{s}.weight" for n in "qkv" for s in ("", "2")} <= ms_names
    cross_names = set(CrossIIWA(64, 32, 32, 4, (2, 2), win_size_q=(4, 4)).state_dict())
    assert {"avgpool_q.1.weight", "avgpool_k.1.bias", "proj.0.weight", "proj.1.weight", "proj1.0.weight",
            "proj1.1.weight", "proj2.0.bias", "proj2.1.bias", "norm1.weight", "norm2.weight"} <= cross_names


# ---- behaviour --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("window,rows", [((8, 8), 225), ((4, 8), 105), ((6, 6), 121)])
def test_relative_position_tables(window, rows):
    self_layer = SelfIIWA(32, window, 4)
    ms_layer = MultiScaleCrossIIWA(32, window, window, 4)
    assert self_layer.relative_position_bias_table.shape[0] == rows
    assert self_layer.relative_position_index.max().item() == rows - 1
    assert torch.equal(ms_layer.relative_position_index, self_layer.relative_position_index)
    assert ms_layer.relative_position_bias_table.shape == self_layer.relative_position_bias_table.shape
    # Released inits: Self-IIWA truncated normal (std 0.02), MS Cross-IIWA zeros.
    assert self_layer.relative_position_bias_table.abs().sum() > 0
    assert ms_layer.relative_position_bias_table.abs().sum() == 0


def test_unequal_cross_windows_need_general_bias():
    with pytest.raises(ValueError, match="window_size_q.*general_cross_bias"):
        MultiScaleCrossIIWA(32, (8, 8), (4, 4), 4)
    layer = MultiScaleCrossIIWA(32, (8, 8), (4, 4), 4, general_cross_bias=True).eval()
    assert layer.relative_position_bias_table.shape == (121, 4)
    assert tuple(layer.relative_position_index.shape) == (64, 16)
    assert layer.relative_position_index.max().item() == 120
    with torch.no_grad():
        layer.relative_position_bias_table.normal_()
    windows, tokens = key_windows_from_memories([torch.randn(2, 16, 16, 32), torch.randn(2, 8, 8, 32)], (4, 4))
    with torch.no_grad():
        out = layer(torch.randn(2, 16, 16, 32), windows, tokens)
    assert out.shape == (2, 16, 16, 32) and torch.isfinite(out).all()


@pytest.mark.slow
def test_cross_iiwa_local_branch_magnitude_and_normalised_output():
    """Without softmax the local output has std ~72.5 at init; the final output is LayerNorm'ed."""
    stds, soft_stds = [], []
    for seed in range(4):
        for local_softmax, sink in ((False, stds), (True, soft_stds)):
            torch.manual_seed(seed)
            layer = CrossIIWA(192, 96, 96, 4, (4, 4), win_size_q=(8, 8), local_softmax=local_softmax).eval()
            captured = {}
            layer.dropout1.register_forward_hook(lambda m, args, out: captured.update(local=args[0]))
            with torch.no_grad():
                out = layer(torch.randn(1, 192, 16, 16), torch.randn(1, 96, 32, 32))
            sink.append(captured["local"].std().item())
            assert abs(out.mean().item()) < 1e-3 and out.std().item() == pytest.approx(1.0, abs=1e-3)
    assert 60 < sum(stds) / len(stds) < 85
    assert max(soft_stds) < 5


def test_cross_iiwa_fix_options_change_output():
    torch.manual_seed(0)
    key, query = torch.randn(1, 32, 6, 7), torch.randn(1, 16, 12, 14)
    outputs = {}
    for options in ({}, {"scale": "inv_sqrt"}, {"local_softmax": True}, {"scale": 0.5}):
        torch.manual_seed(1)
        layer = CrossIIWA(32, 16, 16, 4, (2, 2), win_size_q=(4, 4), **options).eval()
        with torch.no_grad():
            outputs[str(options)] = layer(key, query)
    reference = outputs.pop("{}")
    for name, out in outputs.items():
        assert out.shape == reference.shape
        assert not torch.allclose(out, reference, atol=1e-3), name
    assert CrossIIWA(32, 16, 16, 4, (2, 2), win_size_q=(4, 4)).scale == 1.0
    assert CrossIIWA(32, 16, 16, 4, (2, 2), win_size_q=(4, 4), scale="inv_sqrt").scale == 0.5


def test_cross_iiwa_local_softmax_rows_sum_to_one():
    """With constant values (V = bias for every key), a row-stochastic attention returns that bias exactly."""
    torch.manual_seed(0)
    layer = CrossIIWA(32, 16, 16, 4, (2, 2), win_size_q=(4, 4), local_softmax=True).double().eval()
    with torch.no_grad():
        layer.v_lin.weight.zero_()
        layer.v_lin.bias.copy_(torch.linspace(-1, 1, 16, dtype=torch.float64))
    captured = {}
    layer.dropout1.register_forward_hook(lambda m, args, out: captured.update(local=args[0]))
    with torch.no_grad():
        layer(torch.randn(1, 32, 6, 7, dtype=torch.float64), torch.randn(1, 16, 12, 14, dtype=torch.float64))
    expected = torch.linspace(-1, 1, 16, dtype=torch.float64).expand_as(captured["local"])
    torch.testing.assert_close(captured["local"], expected, rtol=0, atol=1e-12)
    layer.local_softmax = False  # released: raw scores, rows do not sum to one
    with torch.no_grad():
        layer(torch.randn(1, 32, 6, 7, dtype=torch.float64), torch.randn(1, 16, 12, 14, dtype=torch.float64))
    assert not torch.allclose(captured["local"], expected)


def test_shapes_with_padding():
    """Shapes at reduced width: any size works, outputs are cropped back."""
    torch.manual_seed(0)
    self_layer = SelfIIWA(32, (8, 8), 4).eval()
    for shape in ((1, 60, 61, 32), (1, 64, 86, 32)):
        assert self_layer(torch.randn(shape)).shape == shape
    fusion = CrossIIWA(32, 16, 16, 4, (4, 4), win_size_q=(8, 8)).eval()
    assert fusion(torch.randn(1, 32, 64, 86), torch.randn(1, 16, 128, 171)).shape == (1, 16, 128, 171)
    assert fusion(torch.randn(1, 32, 60, 60), torch.randn(1, 16, 120, 120)).shape == (1, 16, 120, 120)


# ---- batch independence -------------------------------------------------------------------------------------

def test_batch_of_two_equals_two_batches_of_one():
    torch.manual_seed(0)
    self_layer = SelfIIWA(32, (4, 4), 4).double().eval()
    ms_layer = MultiScaleCrossIIWA(32, (4, 4), (4, 4), 4).double().eval()
    fusion = CrossIIWA(32, 16, 16, 4, (2, 2), win_size_q=(4, 4)).double().eval()
    with torch.no_grad():
        ms_layer.relative_position_bias_table.normal_()
    x = torch.randn(2, 9, 11, 32, dtype=torch.float64)
    memories = [torch.randn(2, 18, 22, 32, dtype=torch.float64), torch.randn(2, 9, 11, 32, dtype=torch.float64)]
    key, query = torch.randn(2, 32, 6, 7, dtype=torch.float64), torch.randn(2, 16, 12, 14, dtype=torch.float64)
    with torch.no_grad():
        both = self_layer(x)
        singles = torch.cat([self_layer(x[i:i + 1]) for i in range(2)])
        torch.testing.assert_close(both, singles, rtol=1e-12, atol=1e-12)

        out, matching = ms_layer(x, *key_windows_from_memories(memories, 4), return_matching=True)
        for i in range(2):
            windows, tokens = key_windows_from_memories([m[i:i + 1] for m in memories], 4)
            out_i, matching_i = ms_layer(x[i:i + 1], windows, tokens, return_matching=True)
            torch.testing.assert_close(out[i:i + 1], out_i, rtol=1e-12, atol=1e-12)
            assert torch.equal(matching[i:i + 1], matching_i)
        assert not torch.equal(matching[0], matching[1])

        both = fusion(key, query)
        singles = torch.cat([fusion(key[i:i + 1], query[i:i + 1]) for i in range(2)])
        torch.testing.assert_close(both, singles, rtol=1e-12, atol=1e-12)


def test_ms_cross_accepts_per_scale_lists():
    torch.manual_seed(0)
    layer = MultiScaleCrossIIWA(32, (4, 4), (4, 4), 4).eval()
    query = torch.randn(1, 8, 8, 32)
    memories = [torch.randn(1, 16, 16, 32), torch.randn(1, 8, 8, 32)]
    per_scale = [key_windows_from_memories([m], 4) for m in memories]
    with torch.no_grad():
        out_lists = layer(query, [w for w, _ in per_scale], [t for _, t in per_scale])
        out_cat = layer(query, *key_windows_from_memories(memories, 4))
    torch.testing.assert_close(out_lists, out_cat, rtol=0, atol=0)


def test_gradients_reach_only_matched_key_windows():
    torch.manual_seed(0)
    layer = MultiScaleCrossIIWA(32, (4, 4), (4, 4), 4).eval()
    windows, tokens = key_windows_from_memories([torch.randn(1, 16, 16, 32), torch.randn(1, 8, 8, 32)], 4)
    windows.requires_grad_(True)
    tokens.requires_grad_(True)
    out, matching = layer(torch.randn(1, 8, 8, 32), windows, tokens, return_matching=True)
    out.square().sum().backward()
    touched = windows.grad.flatten(2).abs().sum(-1)[0] > 0
    assert torch.equal(touched.nonzero().flatten(), matching[0].sort().values)
    assert torch.equal(tokens.grad.abs().sum(-1)[0].nonzero().flatten(), matching[0].sort().values)


# ---- clear errors -------------------------------------------------------------------------------------------

def test_errors():
    with pytest.raises(ValueError, match="dim=30 must be divisible by 4"):
        SelfIIWA(30, (4, 4), 3)
    with pytest.raises(ValueError, match="dim=32 must be divisible by num_heads=5"):
        SelfIIWA(32, (4, 4), 5)
    with pytest.raises(ValueError, match="window_size"):
        SelfIIWA(32, (4, 0), 4)
    with pytest.raises(ValueError, match=r"\(B, H, W, 32\)"):
        SelfIIWA(32, (4, 4), 4)(torch.randn(1, 32, 8, 8))
    with pytest.raises(ValueError, match="in_chans2=16 must equal d_model=32"):
        CrossIIWA(64, 16, 32, 4, (2, 2), win_size_q=(4, 4))
    with pytest.raises(ValueError, match="in_chans1=30 must be divisible by 4"):
        CrossIIWA(30, 16, 16, 4, (2, 2), win_size_q=(4, 4))
    with pytest.raises(ValueError, match="scale must be one of"):
        CrossIIWA(32, 16, 16, 4, (2, 2), win_size_q=(4, 4), scale="sqrt")
    fusion = CrossIIWA(32, 16, 16, 4, (2, 2), win_size_q=(4, 4))
    with pytest.raises(ValueError, match="same window grid.*3x4 windows.*4x4"):
        fusion(torch.randn(1, 32, 6, 7), torch.randn(1, 16, 16, 16))
    with pytest.raises(ValueError, match="in_chans1=32"):
        fusion(torch.randn(1, 16, 6, 7), torch.randn(1, 16, 12, 14))
    layer = MultiScaleCrossIIWA(32, (4, 4), (4, 4), 4)
    windows, tokens = key_windows_from_memories([torch.randn(1, 8, 8, 32)], 4)
    with pytest.raises(ValueError, match="4 key windows for 6 query windows"):
        layer(torch.randn(1, 8, 12, 32), windows, tokens)
    with pytest.raises(ValueError, match="key_windows must be"):
        layer(torch.randn(1, 8, 8, 32), windows[..., :16], tokens)
    with pytest.raises(ValueError, match="key_tokens must be"):
        layer(torch.randn(1, 8, 8, 32), windows, tokens[:, :2])
