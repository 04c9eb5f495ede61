"""Helpers of the IIWA layers: sine position embedding, relative-position index, window pooling/upsampling."""
import math

import pytest
import torch

from ctxseg.layers import (
    PositionEmbeddingSine,
    sine_position_embedding,
    upsample_window_grid,
    window_grid_size,
    window_partition,
    window_pool,
)
from ctxseg.layers.iiwa_attention import attend, relative_position_index


def test_sine_embedding_values_of_the_spec_example():
    """The released formula: C=8 on a 2x3 grid; row 1 is about pi, column 1 about 2 pi / 3."""
    pos = sine_position_embedding(2, 3, 8)
    assert pos.dtype == torch.float32 and pos.shape == (2, 3, 8)
    assert pos[0, 0, :4].tolist() == pytest.approx([0.0, -1.0, 0.0314, 0.9995], abs=1e-4)
    assert pos[0, 0, 4:6].tolist() == pytest.approx([0.8660, -0.5], abs=1e-4)
    # Rows encode the row only, columns the column only.
    assert torch.equal(pos[:, 0, :4], pos[:, 2, :4]) and torch.equal(pos[0, :, 4:], pos[1, :, 4:])


def test_sine_embedding_needs_channels_divisible_by_4():
    with pytest.raises(ValueError, match="divisible by 4.*channels=6"):
        PositionEmbeddingSine()(torch.zeros(1, 6, 3, 3))
    with pytest.raises(ValueError, match="normalize=True"):
        PositionEmbeddingSine(normalize=False, scale=1.0)


def test_channel_last_equals_channel_first_view_and_dtype_follows_input():
    x = torch.zeros(2, 12, 4, 5, dtype=torch.float64)
    first = PositionEmbeddingSine()(x)
    last = PositionEmbeddingSine(channels_last=True)(x.permute(0, 2, 3, 1))
    assert first.dtype == torch.float64 and first.shape == (2, 12, 4, 5)
    assert torch.equal(last, first.permute(0, 2, 3, 1))
    # Computed in float32 (as released), whatever the input's dtype.
    assert torch.equal(first.float().double(), first)
    assert torch.equal(first[1], first[0])


def test_unnormalised_embedding_uses_raw_coordinates():
    pos = sine_position_embedding(2, 3, 4, normalize=False)
    assert pos[1, 2, 0].item() == pytest.approx(math.sin(2.0))
    assert pos[1, 2, 2].item() == pytest.approx(math.sin(3.0))


def _loop_index(window_q, window_k):
    """Swin's index formula, one token pair at a time."""
    (hq, wq), (hk, wk) = window_q, window_k
    index = torch.empty(hq * wq, hk * wk, dtype=torch.int64)
    for a in range(hq * wq):
        for b in range(hk * wk):
            (iq, jq), (ik, jk) = divmod(a, wq), divmod(b, wk)
            index[a, b] = (iq - ik + hk - 1) * (wq + wk - 1) + (jq - jk + wk - 1)
    return index


@pytest.mark.parametrize("window_q,window_k", [((4, 4), (4, 4)), ((2, 4), (2, 4)), ((8, 8), (4, 4)),
                                               ((3, 5), (2, 2))])
def test_relative_position_index_formula(window_q, window_k):
    index = relative_position_index(window_q, window_k)
    assert torch.equal(index, _loop_index(window_q, window_k))
    rows = (window_q[0] + window_k[0] - 1) * (window_q[1] + window_k[1] - 1)
    assert index.min().item() == 0 and index.max().item() == rows - 1
    if window_q == window_k:  # Swin's index: (ia - ib + w0 - 1)(2 w1 - 1) + (ja - jb + w1 - 1)
        assert torch.equal(relative_position_index(window_q), index)


def test_window_pool_is_the_mean_of_each_window():
    x = torch.randn(2, 8, 12, 5)
    pooled = window_pool(x, (4, 3))
    assert pooled.shape == (2, 2, 4, 5)
    expected = window_partition(x, (4, 3)).mean(dim=(1, 2)).view(2, 2, 4, 5)
    torch.testing.assert_close(pooled, expected)
    with pytest.raises(ValueError, match="not a multiple"):
        window_pool(torch.randn(1, 7, 8, 2), 4)


def test_upsample_window_grid_keeps_corners():
    grid = torch.randn(1, 3, 4, 2)
    up = upsample_window_grid(grid, (9, 10))
    assert up.shape == (1, 9, 10, 2)
    for (i, j), (gi, gj) in {(0, 0): (0, 0), (8, 9): (2, 3), (0, 9): (0, 3), (8, 0): (2, 0)}.items():
        torch.testing.assert_close(up[0, i, j], grid[0, gi, gj])


def test_window_grid_size_rounds_up():
    assert window_grid_size(64, 86, 8) == (8, 11)
    assert window_grid_size(128, 171, (8, 8)) == window_grid_size(64, 86, (4, 4)) == (16, 22)


def test_attend_without_softmax_keeps_raw_scores():
    q, k, v = torch.randn(1, 2, 3, 4), torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 4)
    torch.testing.assert_close(attend(q, k, v, 1.0, softmax=False), q @ k.transpose(-2, -1) @ v)
    torch.testing.assert_close(attend(q, k, v, 0.5), torch.softmax(0.5 * q @ k.transpose(-2, -1), -1) @ v)
