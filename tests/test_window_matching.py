"""Window matching of MS Cross-IIWA against a brute-force per-window reference, and its CPU/dtype contract."""
import itertools

import numpy as np
import pytest
import torch

import ctxseg.layers.window_matching as window_matching
from ctxseg.layers import MultiScaleCrossIIWA, gather_windows, key_windows_from_memories, match_windows


def _reference_key_windows(memories, window):
    """Per-window loops: pad each map with zeros bottom/right, slice every window, average it."""
    wh, ww = window
    batch, channels = memories[0].shape[0], memories[0].shape[-1]
    windows, tokens = [[] for _ in range(batch)], [[] for _ in range(batch)]
    for memory in memories:
        h, w = memory.shape[1:3]
        rows, cols = -(-h // wh), -(-w // ww)
        canvas = memory.new_zeros(batch, rows * wh, cols * ww, channels)
        canvas[:, :h, :w] = memory
        for b in range(batch):
            for r in range(rows):
                for c in range(cols):
                    patch = canvas[b, r * wh:(r + 1) * wh, c * ww:(c + 1) * ww]
                    windows[b].append(patch)
                    tokens[b].append(patch.mean(dim=(0, 1)))
    return torch.stack([torch.stack(w) for w in windows]), torch.stack([torch.stack(t) for t in tokens])


def _brute_force_matching(query_tokens, key_tokens):
    """Try every injective assignment of query windows to key windows; keep the best total similarity."""
    result = []
    for q, k in zip(query_tokens.double(), key_tokens.double()):
        scores = [[float(q[i] @ k[j]) for j in range(k.shape[0])] for i in range(q.shape[0])]
        best = max(itertools.permutations(range(k.shape[0]), q.shape[0]),
                   key=lambda cols: sum(scores[i][j] for i, j in enumerate(cols)))
        result.append(list(best))
    return result


def _query_tokens(query, window):
    return _reference_key_windows([query], window)[1]


@pytest.mark.parametrize("seed", range(4))
def test_matching_equals_brute_force(seed):
    generator = torch.Generator().manual_seed(seed)
    query = torch.randn(2, 8, 7, 8, generator=generator)  # padded to 8x8: 4 query windows
    memories = [torch.randn(2, 10, 7, 8, generator=generator),  # 3x2 windows
                torch.randn(2, 3, 4, 8, generator=generator)]  # 1 window
    windows, tokens = key_windows_from_memories(memories, (4, 4))
    ref_windows, ref_tokens = _reference_key_windows(memories, (4, 4))
    torch.testing.assert_close(windows, ref_windows, rtol=0, atol=0)
    torch.testing.assert_close(tokens, ref_tokens, rtol=1e-6, atol=1e-6)

    expected = _brute_force_matching(_query_tokens(query, (4, 4)), ref_tokens)
    assert match_windows(_query_tokens(query, (4, 4)), tokens).tolist() == expected
    layer = MultiScaleCrossIIWA(8, (4, 4), (4, 4), 2).eval()
    with torch.no_grad():
        _, matching = layer(query, windows, tokens, return_matching=True)
    assert matching.tolist() == expected
    for row in expected:
        assert len(set(row)) == len(row)  # distinct key windows


def test_square_assignment_is_a_permutation():
    generator = torch.Generator().manual_seed(0)
    query_tokens, key_tokens = torch.randn(3, 5, 6, generator=generator), torch.randn(3, 5, 6, generator=generator)
    matching = match_windows(query_tokens, key_tokens)
    assert matching.dtype == torch.int64 and matching.shape == (3, 5)
    for row in matching.tolist():
        assert sorted(row) == list(range(5))
    assert matching.tolist() == _brute_force_matching(query_tokens, key_tokens)


def test_scipy_gets_float64_cpu_copies_once_per_image(monkeypatch):
    calls = []
    real = window_matching.linear_sum_assignment

    def spy(scores, maximize=False):
        calls.append((scores.dtype, scores.shape, maximize, type(scores)))
        return real(scores, maximize=maximize)

    monkeypatch.setattr(window_matching, "linear_sum_assignment", spy)
    match_windows(torch.randn(3, 4, 8), torch.randn(3, 9, 8))
    assert calls == [(np.float64, (4, 9), True, np.ndarray)] * 3


def test_low_precision_tokens_are_matched_in_float32():
    """bf16 similarities would round many scores to ties (this case: a different assignment); float32 is used."""
    generator = torch.Generator().manual_seed(0)
    query_tokens = torch.randn(2, 128, 64, generator=generator).bfloat16()
    key_tokens = torch.randn(2, 256, 64, generator=generator).bfloat16()
    expected = match_windows(query_tokens.float(), key_tokens.float())
    assert torch.equal(match_windows(query_tokens, key_tokens), expected)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(match_windows(query_tokens.float(), key_tokens.float()), expected)


def test_matching_errors():
    with pytest.raises(ValueError, match="3 key windows for 4 query windows"):
        match_windows(torch.randn(1, 4, 8), torch.randn(1, 3, 8))
    bad = torch.randn(1, 4, 8)
    bad[0, 1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        match_windows(bad, torch.randn(1, 6, 8))
    with pytest.raises(ValueError, match=r"memories\[1\] has shape \(1, 4, 4, 6\)"):
        key_windows_from_memories([torch.randn(1, 4, 4, 8), torch.randn(1, 4, 4, 6)], 2)
    with pytest.raises(ValueError, match="empty"):
        key_windows_from_memories([], 2)


def test_gather_windows_matches_a_loop():
    windows = torch.randn(2, 7, 3, 3, 4)
    indices = torch.tensor([[6, 0, 3], [1, 1, 5]])
    picked = gather_windows(windows, indices)
    expected = torch.stack([windows[b, indices[b]] for b in range(2)])
    assert torch.equal(picked, expected)
