"""Multi-head attention shared by the Swin backbone and the IIWA layers: the kernel, heads, relative positions.

:func:`multi_head_attention` computes ``softmax(scale * q k^T + bias) v`` with PyTorch's
``scaled_dot_product_attention`` (fused flash / memory-efficient kernels on GPUs, the flash kernel on
CPUs), the relative-position bias and any shifted-window mask passed as one additive mask. The explicit
math path (:func:`attend`) stays for float64, the precision of the golden tests, wherever
``fused_attention(False)`` asks for it (tests that compare both paths), and where no fused kernel
applies: PyTorch's CPU kernel has no attention dropout and no gradient for the mask (a learned bias in
training), and ``scaled_dot_product_attention`` would fall back to a math path slower than this one.
Self-attention with a learned bias in CPU training runs that math as one autograd function
(``biased_attention.py``), with fewer copies than the composed operations.

q, k and v stay strided views of their projection's output (:func:`split_heads`); the fused kernels
read them as they are and return the output in the query's layout, so merging the heads back
(:func:`merge_heads`) is a view too.
"""
import contextlib

import torch
import torch.nn.functional as F

from .biased_attention import BiasedSelfAttention, biased_self_attention_applies
from .dropout import dropout
from .linear import linear
from .tracing import capturing_graph

__all__ = ["multi_head_attention", "attend", "fused_attention", "fused_attention_enabled", "split_heads",
           "merge_heads", "self_attention", "cross_attention", "relative_position_index", "relative_position_bias",
           "stacked_linear"]

_FUSED = True


@contextlib.contextmanager
def fused_attention(enabled):
    """Context manager: with ``False``, :func:`multi_head_attention` takes the math path for every dtype."""
    global _FUSED
    previous, _FUSED = _FUSED, bool(enabled)
    try:
        yield
    finally:
        _FUSED = previous


def fused_attention_enabled():
    """Whether :func:`multi_head_attention` may use the fused kernel (float64 never does)."""
    return _FUSED


def multi_head_attention(q, k, v, scale, bias=None, dropout_p=0.0):
    """Attention on split heads: q (B, heads, Nq, d), k and v (B, heads, Nk, d) -> (B, heads, Nq, d).

    ``bias`` is an additive mask broadcastable to (B, heads, Nq, Nk), given with 4 dims (the CPU flash
    kernel takes no other). ``dropout_p`` drops attention weights (pass 0 in eval mode).
    """
    if _fused_kernel_applies(q, bias, dropout_p):
        if bias is not None:
            # Under autocast q, k, v are bf16/fp16 but the bias table is float32; the kernel wants one dtype.
            bias = bias.to(q.dtype)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p, scale=scale)
    return attend(q, k, v, scale, bias=bias, dropout_p=dropout_p)


def _fused_kernel_applies(q, bias, dropout_p):
    if not _FUSED or q.dtype == torch.float64:
        return False
    if q.device.type == "cpu":
        return dropout_p == 0 and (bias is None or not bias.requires_grad)
    return True


def attend(q, k, v, scale, bias=None, softmax=True, dropout_p=0.0):
    """The math path: ``A = softmax(scale * q k^T + bias)``, returns ``A v``.

    ``softmax=False`` keeps the raw bilinear scores (the released Cross-IIWA local branch).
    """
    if bias is None:
        # A scale of 1 (the released Cross-IIWA) would only copy q.
        attn = (q if scale == 1 else q * scale) @ k.transpose(-2, -1)
    else:
        # Scale and bias in one pass over the scores.
        attn = torch.add(bias, q @ k.transpose(-2, -1), alpha=scale)
    if softmax:
        attn = attn.softmax(dim=-1)
    if dropout_p > 0:
        attn = dropout(attn, dropout_p)
    return attn @ v


def split_heads(x, parts, num_heads):
    """A projection's output (B, N, parts * C) -> ``parts`` strided views (B, heads, N, C // heads), no copy."""
    b, n, _ = x.shape
    return x.view(b, n, parts, num_heads, -1).permute(2, 0, 3, 1, 4)


def merge_heads(x):
    """(B, heads, N, d) -> (B, N, heads * d): a view of the fused kernel's output, a copy otherwise."""
    b, heads, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, heads * d)


def self_attention(tokens, qkv, num_heads, scale, bias=None, dropout_p=0.0):
    """Multi-head self-attention of tokens (B, N, C) with one q/k/v projection ``qkv`` -> (B, N, C),
    before any output projection. A learned bias in CPU training takes :class:`BiasedSelfAttention`."""
    projected = qkv(tokens)
    if _FUSED and not capturing_graph() and biased_self_attention_applies(projected, bias, num_heads, dropout_p):
        return BiasedSelfAttention.apply(projected, bias, num_heads, scale)
    q, k, v = split_heads(projected, 3, num_heads)
    return merge_heads(multi_head_attention(q, k, v, scale, bias, dropout_p))


def cross_attention(queries, keys, q_lin, k_lin, v_lin, num_heads, scale, bias=None, dropout_p=0.0, softmax=True):
    """Multi-head attention of queries (B, Nq, Cq) to keys (B, Nk, Ck) through the projections ``q_lin``,
    ``k_lin``, ``v_lin`` -> (B, Nq, D), before any output projection. ``softmax=False`` keeps the raw
    bilinear scores (math path)."""
    (q,) = split_heads(q_lin(queries), 1, num_heads)
    k, v = split_heads(stacked_linear(keys, k_lin, v_lin), 2, num_heads)
    if softmax:
        return merge_heads(multi_head_attention(q, k, v, scale, bias, dropout_p))
    return merge_heads(attend(q, k, v, scale, bias, softmax=False, dropout_p=dropout_p))


def relative_position_index(window_q, window_k=None):
    """Index (Nq, Nk) into a relative-position bias table of ((hq + hk - 1) * (wq + wk - 1)) rows.

    For a query token (iq, jq) of an hq x wq window and a key token (ik, jk) of an hk x wk window:
    ``(iq - ik + hk - 1) * (wq + wk - 1) + (jq - jk + wk - 1)``. With equal windows (the default,
    ``window_k=None``) this is Swin's index over a table of (2h - 1)(2w - 1) rows. Windows are pairs
    (h, w) or ints for square ones.
    """
    hq, wq = (window_q, window_q) if isinstance(window_q, int) else window_q
    hk, wk = (hq, wq) if window_k is None else ((window_k, window_k) if isinstance(window_k, int) else window_k)
    iq = torch.arange(hq).repeat_interleave(wq)
    jq = torch.arange(wq).repeat(hq)
    ik = torch.arange(hk).repeat_interleave(wk)
    jk = torch.arange(wk).repeat(hk)
    rows = iq[:, None] - ik[None, :] + hk - 1
    cols = jq[:, None] - jk[None, :] + wk - 1
    return rows * (wq + wk - 1) + cols


def relative_position_bias(table, index):
    """The bias (heads, Nq, Nk) that ``index`` (Nq, Nk) picks from ``table`` (rows, heads), contiguous."""
    bias = table[index.view(-1)].view(*index.shape, table.shape[1])
    return bias.permute(2, 0, 1).contiguous()


def stacked_linear(x, *linears):
    """Several ``nn.Linear`` on the same input as one matmul: their outputs side by side on the last dim.

    One pass over the input (and one over its gradient) instead of one per layer; the parameters stay
    those of the separate layers, so their names and checkpoints are unchanged.
    """
    weight = torch.cat([linear.weight for linear in linears])
    bias = None if linears[0].bias is None else torch.cat([linear.bias for linear in linears])
    return linear(x, weight, bias)
