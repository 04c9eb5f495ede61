"""The fast paths equal the reference paths: the fused attention kernel against the math path (which the
float64 golden tests pin down), the one-gather window layouts against roll + partition, the key-window
buffer against padding, partition, pooling and concatenation, and their hand-written backwards against
autograd's; with padding, shifted windows and masks, in float32, float64 and under bf16 autocast."""
import pytest
import torch
import torch.nn.functional as F
from timm.layers import DropPath

from ctxseg.layers import (
    CrossIIWA,
    MultiScaleCrossIIWA,
    SelfIIWA,
    gather_windows,
    key_windows_from_memories,
    pad_to_multiple,
    window_partition,
    window_pool,
)
from ctxseg.layers.attention import (
    attend,
    fused_attention,
    fused_attention_enabled,
    multi_head_attention,
    relative_position_bias,
    relative_position_index,
    stacked_linear,
)
from ctxseg.layers.residual import add_residual
from ctxseg.layers.window import (
    add_windows,
    permute_tokens,
    shifted_window_order,
    shifted_window_position,
    window_merge,
)
from ctxseg.modeling.backbone.swin import D2SwinTransformer, SwinBlock, shifted_window_mask, window_layout

from .conftest import assert_rel

RTOL32 = 1e-5


def _both_paths(run):
    """``run()`` with the fused kernel and with the math path."""
    with fused_attention(True):
        fused = run()
    with fused_attention(False):
        math = run()
    return fused, math


# ---- the kernel ---------------------------------------------------------------------------------------------

def _qkv(batch, heads, nq, nk, d, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, heads, n, d, generator=g, dtype=dtype) for n in (nq, nk, nk)]


@pytest.mark.parametrize("bias_shape", [None, (1, 4, 16, 12), (6, 4, 16, 12), (6, 1, 16, 12)])
def test_fused_attention_equals_math_path(bias_shape):
    q, k, v = _qkv(6, 4, 16, 12, 8)
    bias = None if bias_shape is None else torch.randn(bias_shape)
    if bias is not None:
        bias[..., :3] = -100.0  # shifted-window masks add -100 across regions
    fused, math = _both_paths(lambda: multi_head_attention(q, k, v, 0.3, bias))
    assert_rel(fused, math, RTOL32)
    torch.testing.assert_close(math, attend(q, k, v, 0.3, bias), rtol=0, atol=0)


def test_fused_attention_gradients_equal_math_path():
    grads = []
    bias = torch.randn(1, 2, 9, 9, generator=torch.Generator().manual_seed(1))  # a mask: no gradient
    for enabled in (True, False):
        q, k, v = (t.requires_grad_() for t in _qkv(3, 2, 9, 9, 4))
        with fused_attention(enabled):
            (multi_head_attention(q, k, v, 0.5, bias) * torch.linspace(-1, 1, 4)).sum().backward()
        grads.append([t.grad for t in (q, k, v)])
    for fused, math in zip(*grads):
        assert_rel(fused, math, RTOL32)


@pytest.mark.parametrize("bias_grad,dropout_p,fused", [(False, 0.0, True), (True, 0.0, False), (False, 0.1, False)])
def test_cpu_kernel_choice(monkeypatch, bias_grad, dropout_p, fused):
    """The CPU flash kernel has no mask gradient and no dropout: those cases take the math path."""
    calls = []
    sdpa = F.scaled_dot_product_attention
    monkeypatch.setattr(F, "scaled_dot_product_attention", lambda *a, **kw: calls.append(1) or sdpa(*a, **kw))
    q, k, v = _qkv(2, 2, 4, 4, 4)
    multi_head_attention(q, k, v, 0.5, torch.zeros(1, 2, 4, 4, requires_grad=bias_grad), dropout_p)
    assert bool(calls) == fused
    calls.clear()
    multi_head_attention(q.double(), k.double(), v.double(), 0.5)
    assert not calls


def test_float64_takes_the_math_path_and_strided_inputs_need_no_copy():
    q, k, v = _qkv(2, 3, 5, 7, 4, dtype=torch.float64)
    bias = torch.randn(1, 3, 5, 7, dtype=torch.float64)
    assert fused_attention_enabled()
    torch.testing.assert_close(multi_head_attention(q, k, v, 0.5, bias), attend(q, k, v, 0.5, bias), rtol=0, atol=0)
    # q, k, v as strided views of one projection (B, N, 3, heads, d): the output keeps the query's layout,
    # so merging the heads back is a view.
    qkv = torch.randn(2, 5, 3, 3, 4).permute(2, 0, 3, 1, 4)
    out = multi_head_attention(qkv[0], qkv[1], qkv[2], 0.5)
    assert out.transpose(1, 2).is_contiguous()
    assert_rel(out, attend(qkv[0], qkv[1], qkv[2], 0.5), RTOL32)


def test_fused_attention_under_bf16_autocast():
    q, k, v = _qkv(4, 2, 16, 16, 8)
    bias = torch.randn(1, 2, 16, 16)  # float32, as the bias tables are under autocast
    reference = attend(q, k, v, 0.35, bias)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = multi_head_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), 0.35, bias)
    assert out.dtype == torch.bfloat16
    assert_rel(out.float(), reference, 3e-2)


def test_fused_attention_switch_restores_its_state():
    with fused_attention(False):
        assert not fused_attention_enabled()
        with fused_attention(True):
            assert fused_attention_enabled()
        assert not fused_attention_enabled()
    assert fused_attention_enabled()


def test_relative_position_bias_and_stacked_linear():
    table = torch.randn(21, 3)  # windows (2, 4): (2 * 2 - 1) * (2 * 4 - 1) rows
    index = relative_position_index((2, 4))
    expected = torch.stack([table[index, h] for h in range(3)])
    bias = relative_position_bias(table, index)
    assert bias.is_contiguous() and torch.equal(bias, expected)
    first, second = torch.nn.Linear(6, 4), torch.nn.Linear(6, 5)
    x = torch.randn(3, 7, 6)
    torch.testing.assert_close(stacked_linear(x, first, second), torch.cat([first(x), second(x)], -1))


@pytest.mark.parametrize("drop_prob,training", [(0.3, True), (0.3, False), (0.0, True)])
def test_add_residual_equals_timm_drop_path(drop_prob, training):
    drop_path = (DropPath(drop_prob) if drop_prob else torch.nn.Identity()).train(training)
    x, branch = torch.randn(8, 5, 6, 4), torch.randn(8, 5, 6, 4)
    torch.manual_seed(3)
    expected = x + drop_path(branch)
    torch.manual_seed(3)
    torch.testing.assert_close(add_residual(x, branch, drop_path), expected)
    if drop_prob and training:
        kept = [not torch.equal(expected[i], x[i]) for i in range(8)]
        assert 0 < sum(kept) < 8  # seed 3 drops some samples and keeps others


# ---- window helpers -----------------------------------------------------------------------------------------

def test_add_windows_equals_merge_then_add():
    x = torch.randn(2, 8, 12, 5)
    windows = torch.randn(2 * 2 * 3, 16, 5)
    expected = x + window_merge(windows.view(-1, 4, 4, 5), (4, 4), 8, 12)
    out = add_windows(x, windows, (4, 4))
    assert out.is_contiguous()
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_window_pool_of_channel_last_and_strided_maps():
    x = torch.randn(2, 8, 12, 6)
    expected = window_partition(x, (2, 3)).mean(dim=(1, 2)).view(2, 4, 4, 6)
    torch.testing.assert_close(window_pool(x, (2, 3)), expected)
    strided = x.permute(0, 3, 1, 2).contiguous().permute(0, 2, 3, 1)  # an NCHW tensor seen channel-last
    torch.testing.assert_close(window_pool(strided, (2, 3)), expected)


@pytest.mark.parametrize("height,width,window,shift", [(14, 21, 7, 3), (12, 12, 4, 2), (8, 12, 4, 0)])
def test_shifted_window_order_is_roll_then_partition(height, width, window, shift):
    x = torch.randn(2, height, width, 3)
    order = shifted_window_order(height, width, window, shift)
    expected = window_partition(torch.roll(x, (-shift, -shift), (1, 2)), window).reshape(2, -1, 3)
    assert torch.equal(x.flatten(1, 2)[:, order], expected)
    assert torch.equal(shifted_window_position(height, width, window, shift), torch.argsort(order))


def test_permute_tokens_backward_is_the_inverse_gather():
    order = torch.randperm(12)
    inverse = torch.argsort(order)
    x = torch.randn(2, 12, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: permute_tokens(t, order, inverse), (x,))
    assert torch.equal(permute_tokens(permute_tokens(x, order, inverse), inverse, order), x)


# ---- key windows --------------------------------------------------------------------------------------------

def _reference_key_windows(memories, window):
    """Pad, partition, pool and concatenate each map separately (the straightforward way)."""
    windows, tokens = [], []
    for m in memories:
        padded = pad_to_multiple(m, window)
        windows.append(window_partition(padded, window).view(m.shape[0], -1, *window, m.shape[-1]))
        tokens.append(F.avg_pool2d(padded.permute(0, 3, 1, 2), window).flatten(2).transpose(1, 2))
    return torch.cat(windows, 1), torch.cat(tokens, 1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_key_windows_equal_reference_with_padding(dtype):
    shapes = [(2, 16, 12, 8), (2, 10, 7, 8), (2, 4, 4, 8)]  # the second map needs padding
    memories = [torch.randn(s, dtype=dtype) for s in shapes]
    windows, tokens = key_windows_from_memories(memories, (4, 4))
    ref_windows, ref_tokens = _reference_key_windows(memories, (4, 4))
    assert torch.equal(windows, ref_windows)
    assert_rel(tokens, ref_tokens, 1e-6 if dtype == torch.float32 else 1e-14)


def test_key_windows_backward_equals_autograd_and_gradcheck():
    memories = [torch.randn(1, 6, 8, 4, dtype=torch.float64, requires_grad=True),
                torch.randn(1, 3, 5, 4, dtype=torch.float64, requires_grad=True)]
    assert torch.autograd.gradcheck(lambda *m: key_windows_from_memories(list(m), (2, 4)), memories)
    # Non-contiguous maps (an NCHW tensor seen channel-last) and a map without gradient.
    strided = torch.randn(1, 4, 6, 8, dtype=torch.float64).permute(0, 2, 3, 1).requires_grad_()
    fixed = torch.randn(1, 4, 4, 4, dtype=torch.float64)
    weights = [torch.randn(1, 8, 2, 4, 4, dtype=torch.float64), torch.randn(1, 8, 4, dtype=torch.float64)]
    grads = []
    for build in (key_windows_from_memories, _reference_key_windows):
        strided.grad = None
        windows, tokens = build([strided, fixed], (2, 4))
        ((windows * weights[0]).sum() + (tokens * weights[1]).sum()).backward()
        grads.append(strided.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-12, atol=1e-12)


def test_gather_windows_backward_with_repeated_indices():
    windows = torch.randn(2, 5, 2, 2, 3, dtype=torch.float64, requires_grad=True)
    indices = torch.tensor([[4, 0, 4], [1, 1, 2]])  # a window picked twice gets both gradients
    assert torch.autograd.gradcheck(lambda w: gather_windows(w, indices), (windows,))
    grad = torch.randn(2, 3, 2, 2, 3, dtype=torch.float64)
    (picked,) = torch.autograd.grad(gather_windows(windows, indices), windows, grad)
    expected = torch.zeros_like(windows)
    for b in range(2):
        for j in range(3):
            expected[b, indices[b, j]] += grad[b, j]
    torch.testing.assert_close(picked, expected, rtol=0, atol=1e-15)


# ---- the IIWA layers: fused against math, float32, padded sizes, masks, gradients -----------------------------

def _train_no_dropout(layer):
    for m in layer.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    return layer.train()


def _layer_cases():
    torch.manual_seed(0)
    self_layer = SelfIIWA(32, (4, 4), 4, drop_path=0.0)
    ms_layer = MultiScaleCrossIIWA(32, (4, 4), (4, 4), 4, drop_path=0.0)
    general = MultiScaleCrossIIWA(32, (4, 4), (2, 2), 4, drop_path=0.0, general_cross_bias=True)
    for layer in (ms_layer, general):
        with torch.no_grad():
            layer.relative_position_bias_table.normal_()  # zeros at init: make the bias matter
    memories = [torch.randn(2, 18, 22, 32), torch.randn(2, 9, 11, 32)]  # not window multiples
    query = torch.randn(2, 9, 11, 32)
    return {
        "self": (self_layer, lambda layer, q: layer(q), [query]),
        "ms_cross": (ms_layer, lambda layer, q, *m: layer(q, *key_windows_from_memories(list(m), 4)),
                     [query, *memories]),
        "ms_cross_general_bias": (general, lambda layer, q, *m: layer(q, *key_windows_from_memories(list(m), 2)),
                                  [query, *memories]),
        "cross": (CrossIIWA(32, 16, 16, 4, (2, 2), win_size_q=(4, 4), scale="inv_sqrt", local_softmax=True),
                  lambda layer, k, q: layer(k, q), [torch.randn(2, 32, 5, 7), torch.randn(2, 16, 10, 14)]),
        "cross_released": (CrossIIWA(32, 16, 16, 4, (2, 2), win_size_q=(4, 4)),
                           lambda layer, k, q: layer(k, q), [torch.randn(2, 32, 5, 7), torch.randn(2, 16, 10, 14)]),
    }


@pytest.mark.parametrize("name", ["self", "ms_cross", "ms_cross_general_bias", "cross", "cross_released"])
def test_iiwa_layer_fused_equals_math_path_in_inference(name):
    layer, call, inputs = _layer_cases()[name]
    layer.eval()
    with torch.no_grad():
        fused, math = _both_paths(lambda: call(layer, *inputs))
    assert_rel(fused, math, RTOL32)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["self", "ms_cross", "ms_cross_general_bias", "cross", "cross_released"])
def test_iiwa_layer_fused_equals_math_path_with_gradients(name):
    layer, call, inputs = _layer_cases()[name]
    _train_no_dropout(layer)
    results = []
    for enabled in (True, False):
        layer.zero_grad()
        leaves = [x.clone().requires_grad_() for x in inputs]
        with fused_attention(enabled):
            out = call(layer, *leaves)
        weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(2))
        (out * weights).sum().backward()
        results.append([out.detach()] + [x.grad for x in leaves] +
                       [p.grad for p in layer.parameters() if p.grad is not None])
    assert len(results[0]) == len(results[1])
    # Softmax ignores a constant added to all logits, so the key biases' gradients are 0 up to rounding:
    # those (and any other such) are held to the scale of the largest gradient instead of their own.
    scale = max(t.abs().max().item() for t in results[1][1:])
    for fused, math in zip(*results):
        if math.abs().max() < 1e-4 * scale:
            assert (fused - math).abs().max() <= RTOL32 * scale
        else:
            assert_rel(fused, math, RTOL32)


@pytest.mark.parametrize("name", ["self", "ms_cross", "cross"])
def test_iiwa_layer_under_bf16_autocast_is_close_to_float32(name):
    layer, call, inputs = _layer_cases()[name]
    layer.eval()
    with torch.no_grad():
        reference = call(layer, *inputs)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = call(layer, *inputs)
    assert torch.isfinite(out).all()
    # Every layer ends with a LayerNorm: outputs are O(1), bf16 keeps about 3 significant digits.
    assert (out.float() - reference).abs().mean() < 3e-2


def test_cross_iiwa_output_is_nchw_in_channels_last_memory():
    layer, call, inputs = _layer_cases()["cross_released"]
    out = call(layer.eval(), *inputs)
    assert out.shape == (2, 16, 10, 14) and out.is_contiguous(memory_format=torch.channels_last)


# ---- Swin: the one-gather block against the reference (pad, roll, partition, merge, roll back) ---------------

def _reference_block_forward(block, x, mask):
    """The straightforward Swin block: pad, roll, partition, math attention, merge, roll back, crop."""
    _, h, w, c = x.shape
    ws, shift = block.window_size, block.shift
    y = pad_to_multiple(block.norm1(x), ws)
    hp, wp = y.shape[1:3]
    if shift:
        y = torch.roll(y, (-shift, -shift), (1, 2))
    windows = window_partition(y, ws).reshape(-1, ws * ws, c)
    attn = block.attn
    b, n, _ = windows.shape
    q, k, v = attn.qkv(windows).view(b, n, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
    bias = attn.relative_position_bias()[None]
    if shift:
        bias = (bias + mask[:, None]).repeat(b // mask.shape[0], 1, 1, 1)
    out = attend(q, k, v, attn.scale, bias).transpose(1, 2).reshape(b, n, c)
    y = window_merge(attn.proj(out).view(-1, ws, ws, c), ws, hp, wp)
    if shift:
        y = torch.roll(y, (shift, shift), (1, 2))
    x = x + y[:, :h, :w]
    return x + block.mlp(block.norm2(x))


@pytest.mark.parametrize("shift", [0, 3])
@pytest.mark.parametrize("height,width", [(14, 14), (17, 23)])
def test_swin_block_equals_reference_block(shift, height, width):
    torch.manual_seed(0)
    block = SwinBlock(24, 3, 7, shift).eval()
    x = torch.randn(2, height, width, 24)
    hp, wp = -(-height // 7) * 7, -(-width // 7) * 7
    mask = shifted_window_mask(hp, wp, 7, shift) if shift else None
    layout = window_layout(height, width, 7, shift)
    if shift:
        assert torch.equal(layout.mask, mask)
    with torch.no_grad():
        expected = _reference_block_forward(block, x, mask)
        with fused_attention(False):
            torch.testing.assert_close(block(x, layout), expected, rtol=1e-6, atol=1e-6)
        assert_rel(block(x, layout), expected, RTOL32)
        assert_rel(block(x), expected, RTOL32)  # a block alone computes its own layout


@pytest.mark.parametrize("shift", [0, 3])
def test_swin_block_float64_equals_reference_block(shift):
    torch.manual_seed(0)
    block = SwinBlock(24, 3, 7, shift).double().eval()
    x = torch.randn(2, 17, 23, 24, dtype=torch.float64)
    mask = shifted_window_mask(21, 28, 7, shift).double() if shift else None
    with torch.no_grad():
        torch.testing.assert_close(block(x), _reference_block_forward(block, x, mask), rtol=1e-12, atol=1e-12)


def test_swin_block_under_bf16_autocast_is_close_to_float32():
    torch.manual_seed(0)
    block = SwinBlock(24, 3, 7, 3).eval()
    x = torch.randn(2, 17, 23, 24)
    with torch.no_grad():
        reference = block(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = block(x)
    assert torch.isfinite(out).all() and not torch.equal(out, reference)  # the branches ran in bf16
    # The residual keeps the input's scale; bf16 keeps about 3 significant digits of each branch.
    assert (out.float() - reference).abs().mean() < 3e-2 * reference.abs().mean()


def test_swin_backbone_fused_equals_math_with_padding_shifts_and_gradients():
    torch.manual_seed(0)
    model = D2SwinTransformer(embed_dim=12, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), window_size=7).eval()
    x = torch.randn(2, 3, 61, 75)  # every stage padded, every odd block shifted
    with torch.no_grad():
        fused, math = _both_paths(lambda: model(x))
    for name in fused:
        assert_rel(fused[name], math[name], RTOL32)
    model.train()
    results = []
    for enabled in (True, False):
        model.zero_grad()
        with fused_attention(enabled):
            out = model(x)
        g = torch.Generator().manual_seed(2)
        sum((v * torch.randn(v.shape, generator=g)).sum() for v in out.values()).backward()
        results.append([out[k].detach() for k in sorted(out)] + [p.grad for p in model.parameters()])
    for fused, math in zip(*results):
        assert_rel(fused, math, RTOL32)
