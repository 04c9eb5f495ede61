"""Window self-attention with a learned additive bias, trained on the CPU: one autograd function.

PyTorch's CPU attention kernel gives no gradient for its mask, so the attentions with a learned
relative-position bias (the Swin's windows, Self-IIWA's local branch) train on the math path there:
``softmax(scale * q k^T + bias) v``. Composed of autograd operations, that path copies q, k and v out of
their projection one by one, makes a fresh score tensor for the bias sum and another for the softmax,
and in the backward pass stacks the three gradients into yet another tensor before the projection's
copy. :class:`BiasedSelfAttention` does the same arithmetic with one copy of q, k and v into head-major
order, the bias sum and the softmax in place, and the backward writing the q, k and v gradients straight
into one buffer: the same products (equal to float32 rounding; tests compare it with the math path), less
memory made and touched.
"""
import torch
from torch.autograd.function import once_differentiable

__all__ = ["BiasedSelfAttention", "biased_self_attention_applies"]


def biased_self_attention_applies(projected: torch.Tensor, bias, num_heads: int, dropout_p: float) -> bool:
    """Whether :class:`BiasedSelfAttention` takes this case: float32 on the CPU, a bias that needs its
    gradient, (1 or B, heads, N, N), and no attention dropout."""
    if bias is None or not bias.requires_grad or dropout_p != 0 or not torch.is_grad_enabled():
        return False
    if projected.device.type != "cpu" or projected.dtype != torch.float32 or bias.dtype != torch.float32:
        return False
    b, n, _ = projected.shape
    return bias.dim() == 4 and bias.shape[0] in (1, b) and tuple(bias.shape[1:]) == (num_heads, n, n)


class BiasedSelfAttention(torch.autograd.Function):
    """``softmax(scale * q k^T + bias) v`` per window and head, from a q/k/v projection (B, N, 3C) laid out
    (3, heads, head_dim) on its last dim, with a bias (1 or B, heads, N, N); returns (B, N, C) with the heads
    side by side, before any output projection."""

    @staticmethod
    def forward(ctx, projected, bias, num_heads, scale):
        b, n, three_c = projected.shape
        d = three_c // (3 * num_heads)
        heads = projected.reshape(b, n, 3, num_heads, d).permute(2, 0, 3, 1, 4).contiguous()  # (3, B, heads, N, d)
        q, k, v = (t.view(b * num_heads, n, d) for t in heads)
        scores = torch.bmm(q, k.transpose(1, 2)).view(b, num_heads, n, n)
        torch.add(bias, scores, alpha=scale, out=scores)
        probs = torch.ops.aten._softmax.out(scores, -1, False, out=scores).view(b * num_heads, n, n)
        out = torch.bmm(probs, v)
        ctx.save_for_backward(heads, probs)
        ctx.scale = scale
        ctx.bias_batch = bias.shape[0]
        return out.view(b, num_heads, n, d).transpose(1, 2).reshape(b, n, num_heads * d)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        heads, probs = ctx.saved_tensors
        _, b, num_heads, n, d = heads.shape
        q, k, v = (t.view(b * num_heads, n, d) for t in heads)
        grad_heads = torch.empty_like(heads)
        grad_q, grad_k, grad_v = (t.view(b * num_heads, n, d) for t in grad_heads)
        grad_out = grad_out.reshape(b, n, num_heads, d).transpose(1, 2).reshape(b * num_heads, n, d)
        torch.bmm(probs.transpose(1, 2), grad_out, out=grad_v)
        grad_scores = torch.bmm(grad_out, v.transpose(1, 2))
        torch.ops.aten._softmax_backward_data.out(grad_scores, probs, -1, probs.dtype, grad_input=grad_scores)
        # The scale goes into the two products (beta=0: their output buffers are not read).
        torch.baddbmm(grad_q, grad_scores, k, beta=0, alpha=ctx.scale, out=grad_q)
        torch.baddbmm(grad_k, grad_scores.transpose(1, 2), q, beta=0, alpha=ctx.scale, out=grad_k)
        grad_bias = None
        if ctx.needs_input_grad[1]:
            grad_bias = grad_scores.view(b, num_heads, n, n)
            if ctx.bias_batch == 1:
                grad_bias = grad_bias.sum(0, keepdim=True)
        grad_projected = grad_heads.permute(1, 3, 0, 2, 4).reshape(b, n, 3 * num_heads * d)
        return grad_projected, grad_bias, None, None
