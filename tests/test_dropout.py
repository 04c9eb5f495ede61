"""``ctxseg.layers.dropout``: the CPU fast path drops with the right probability, scales exactly as
``F.dropout``, uses one mask for values and gradients, follows the seed, and every case it must not touch
(eval, p of 0 or 1, other devices, in-place, graph capture) is ``F.dropout`` itself."""
import pytest
import torch
import torch.nn.functional as F

from ctxseg.layers.dropout import Dropout, dropout, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_rate(p):
    torch.manual_seed(0)
    n = 1 << 20
    mask = keep_mask(torch.empty(n), 1 - p)
    # Binomial: five standard deviations (a wrong threshold or a lost bit shifts the rate by far more).
    assert abs(mask.float().mean().item() - (1 - p)) < 5 * (p * (1 - p) / n) ** 0.5


def test_draws_are_independent_across_chunks_and_halves():
    """Neighbouring elements (the two halves of one 64-bit draw) and chunk boundaries are not correlated."""
    torch.manual_seed(1)
    mask = keep_mask(torch.empty(1 << 18), 0.5).float()
    even, odd = mask[0::2], mask[1::2]
    both = (even * odd).mean().item()
    assert abs(both - 0.25) < 5 * (0.25 * 0.75 / even.numel()) ** 0.5


def test_keep_probability_edges():
    assert keep_mask(torch.empty(1000), 1.0).all()
    assert not keep_mask(torch.empty(1000), 0.0).any()
    with pytest.raises(ValueError, match="keep probability"):
        keep_mask(torch.empty(3), 1.5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_kept_values_scaled_as_f_dropout(dtype):
    """Where both keep an element, the value is bit for bit F.dropout's; elsewhere it is zero."""
    x = torch.randn(4, 33, 17).to(dtype)
    torch.manual_seed(0)
    ref = F.dropout(x, 0.3)
    out = dropout(x, 0.3)
    assert out.dtype == dtype
    kept = (out != 0) & (ref != 0)
    assert kept.sum() > 0.3 * x.numel()
    assert torch.equal(out[kept], ref[kept])
    scaled = x * torch.ones((), dtype=dtype).div_(0.7)
    assert torch.equal(out[out != 0], scaled[out != 0])
    assert abs((out == 0).float().mean().item() - 0.3) < 0.05


def test_gradient_uses_the_forward_mask():
    x = torch.randn(3, 40, 50, requires_grad=True)
    upstream = torch.randn(3, 40, 50)
    out = dropout(x, 0.25)
    out.backward(upstream)
    kept = out.detach() != 0
    scale = torch.ones(()).div_(0.75)
    assert torch.equal(x.grad, torch.where(kept, upstream * scale, torch.zeros(())))


def test_double_backward():
    x = torch.randn(6, 7, dtype=torch.float64, requires_grad=True)

    def seeded(t):  # the same mask at every call of the check
        torch.manual_seed(0)
        return dropout(t, 0.4) ** 2

    assert torch.autograd.gradgradcheck(seeded, (x,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_float_masks(dtype):
    """The mask can be drawn straight into a float dtype (the dropout noise): the same draws as booleans."""
    like = torch.empty(3, 70001)
    torch.manual_seed(2)
    as_bool = keep_mask(like, 0.7)
    torch.manual_seed(2)
    as_float = keep_mask(like, 0.7, dtype=dtype)
    assert as_float.dtype == dtype and torch.equal(as_float, as_bool.to(dtype))


def test_follows_the_seed_and_the_layout():
    x = torch.randn(2, 6, 9, 5).permute(0, 2, 3, 1)  # channels-last view
    torch.manual_seed(3)
    a = dropout(x, 0.5)
    torch.manual_seed(3)
    b = dropout(x, 0.5)
    c = dropout(x, 0.5)
    assert torch.equal(a, b) and not torch.equal(b, c)
    assert a.stride() == F.dropout(x, 0.5).stride()


def test_cases_left_to_f_dropout():
    x = torch.randn(5, 8)
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    with pytest.raises(ValueError):
        dropout(x, 1.5)
    meta = torch.empty(5, 8, device="meta")
    assert dropout(meta, 0.5).device.type == "meta"
    layer = Dropout(0.5, inplace=True)
    y = x.clone()
    assert layer(y) is y


def test_traced_graph_holds_the_standard_operator():
    layer = Dropout(0.5).train()
    graph = torch.jit.trace(layer, torch.randn(4, 4), check_trace=False).graph
    assert "aten::dropout" in str(graph)


def test_iiwa_layers_drop_through_it():
    """The Cross-IIWA fusion's four dropouts run the fast path: a training pass draws from the generator as
    ``keep_mask`` does, and eval mode is deterministic."""
    from ctxseg.layers import CrossIIWA
    layer = CrossIIWA(16, 8, d_model=8, nhead=2, win_size_k=(2, 2), win_size_q=(4, 4), dropout=0.5)
    assert sum(isinstance(m, Dropout) for m in layer.modules()) == 4
    key, query = torch.randn(1, 16, 4, 4), torch.randn(1, 8, 8, 8)
    layer.train()
    torch.manual_seed(0)
    a = layer(key, query)
    torch.manual_seed(0)
    assert torch.equal(a, layer(key, query))
    layer.eval()
    assert torch.equal(layer(key, query), layer(key, query))


def test_checkpoint_recomputes_the_same_masks():
    """Activation checkpointing restores the CPU generator before recomputing: the same masks, the same
    gradient as without checkpointing."""
    from torch.utils.checkpoint import checkpoint

    x = torch.randn(64, 32, requires_grad=True)
    grads = []
    for checkpointed in (False, True):
        x.grad = None
        torch.manual_seed(5)
        fn = lambda t: dropout(t, 0.5).square()  # noqa: E731
        out = checkpoint(fn, x, use_reentrant=False) if checkpointed else fn(x)
        out.sum().backward()
        grads.append(x.grad.clone())
    assert torch.equal(*grads)
