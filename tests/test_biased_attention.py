"""``BiasedSelfAttention`` (CPU training with a learned bias) equals the math path of composed operations,
values and gradients, and is taken exactly where it applies."""
import pytest
import torch

import ctxseg.layers.attention as attention
from ctxseg.layers.attention import attend, fused_attention, merge_heads, self_attention, split_heads
from ctxseg.layers.biased_attention import BiasedSelfAttention

from .conftest import assert_rel

RTOL32 = 1e-5


def _case(bias_batch, batch=6, n=49, heads=3, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    projected = torch.randn(batch, n, 3 * heads * d, generator=g, requires_grad=True)
    bias = torch.randn(bias_batch, heads, n, n, generator=g)
    bias[..., :5] -= 100.0  # shifted-window masks add -100 across regions
    return projected, bias.requires_grad_(), heads


def _math(projected, bias, heads, scale):
    q, k, v = split_heads(projected, 3, heads)
    return merge_heads(attend(q, k, v, scale, bias))


@pytest.mark.parametrize("bias_batch", [1, 6])
def test_equals_the_math_path_with_gradients(bias_batch):
    projected, bias, heads = _case(bias_batch)
    upstream = torch.randn(6, 49, 24, generator=torch.Generator().manual_seed(3))
    results = []
    for fn in (lambda p, b: BiasedSelfAttention.apply(p, b, heads, 0.35), lambda p, b: _math(p, b, heads, 0.35)):
        out = fn(projected, bias)
        results.append([out.detach(), *torch.autograd.grad(out, (projected, bias), upstream)])
    for ours, reference in zip(*results):
        assert_rel(ours, reference, RTOL32)


def test_gradcheck_float64():
    projected = torch.randn(2, 5, 18, dtype=torch.float64, requires_grad=True)
    for bias_batch in (1, 2):
        bias = torch.randn(bias_batch, 2, 5, 5, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda p, b: BiasedSelfAttention.apply(p, b, 2, 0.4), (projected, bias))


def test_in_place_softmax_equals_softmax():
    """The forward and backward run softmax and its gradient in place; the kernels read each row before
    writing it, so the results are those of the out-of-place calls, bit for bit."""
    scores = torch.randn(64, 49, 49) * 5
    expected = torch.softmax(scores, -1)
    in_place = scores.clone()
    torch.ops.aten._softmax.out(in_place, -1, False, out=in_place)
    assert torch.equal(in_place, expected)
    grad = torch.randn(64, 49, 49)
    expected_grad = torch.ops.aten._softmax_backward_data(grad, expected, -1, torch.float32)
    torch.ops.aten._softmax_backward_data.out(grad, expected, -1, torch.float32, grad_input=grad)
    assert torch.equal(grad, expected_grad)


@pytest.mark.parametrize("case,taken", [("train", True), ("bias_without_grad", False), ("dropout", False),
                                        ("float64", False), ("no_grad", False), ("math_path_asked", False),
                                        ("bias_shared_by_heads", False)])
def test_where_it_is_taken(monkeypatch, case, taken):
    calls = []
    apply = BiasedSelfAttention.apply
    monkeypatch.setattr(attention.BiasedSelfAttention, "apply", lambda *a: calls.append(1) or apply(*a))
    tokens = torch.randn(4, 16, 12, dtype=torch.float64 if case == "float64" else torch.float32)
    qkv = torch.nn.Linear(12, 36).to(tokens.dtype)
    bias = torch.zeros(1, 1 if case == "bias_shared_by_heads" else 3, 16, 16, dtype=tokens.dtype,
                       requires_grad=case != "bias_without_grad")
    with torch.set_grad_enabled(case != "no_grad"), fused_attention(case != "math_path_asked"):
        out = self_attention(tokens, qkv, 3, 0.5, bias, 0.1 if case == "dropout" else 0.0)
    assert out.shape == (4, 16, 12)
    assert bool(calls) == taken
