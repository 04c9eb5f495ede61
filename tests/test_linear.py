"""The oneDNN route of float32 CPU linear layers equals ``F.linear`` (values and gradients), and every
case it must not touch (float64, autocast, graph capture, the ``aten`` backend) is ``F.linear`` exactly."""
import contextlib
import os
import subprocess
import sys

import pytest
import timm.layers
import torch
import torch.nn.functional as F

import ctxseg.layers.linear as linear_module
from ctxseg.layers.linear import (
    TOKEN_BLOCK,
    Linear,
    cpu_linear_backend,
    get_cpu_linear_backend,
    linear,
    onednn_weight_gradient,
)
from ctxseg.layers.mlp import Mlp

from .conftest import ROOT, assert_rel

RTOL = 1e-5

pytestmark = pytest.mark.skipif(linear_module._onednn_linear is None,
                                reason="this PyTorch build has no oneDNN linear")


def _inputs(shape, out_features, bias=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g)
    w = torch.randn(out_features, shape[-1], generator=g) / shape[-1] ** 0.5
    b = torch.randn(out_features, generator=g) if bias else None
    return x, w, b


def _grads(fn, x, w, b):
    leaves = [t.detach().clone().requires_grad_() for t in (x, w, b) if t is not None]
    out = fn(*leaves) if b is not None else fn(*leaves, None)
    upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(9))
    grads = torch.autograd.grad(out, leaves, upstream)
    return out, grads


@pytest.mark.parametrize("shape", [(64, 48), (2, 37, 96), (2, 5, 7, 32), (2, 1300, 32)])
@pytest.mark.parametrize("bias", [True, False])
def test_values_and_gradients_equal_f_linear(shape, bias):
    x, w, b = _inputs(shape, 80, bias)
    assert get_cpu_linear_backend() == "onednn"
    out, grads = _grads(linear, x, w, b)
    ref, ref_grads = _grads(F.linear, x, w, b)
    assert_rel(out, ref, RTOL)
    for g, r in zip(grads, ref_grads):
        assert_rel(g, r, RTOL)


def test_weight_gradient_of_no_rows_is_zero():
    assert torch.equal(onednn_weight_gradient(torch.empty(0, 5), torch.empty(0, 3)), torch.zeros(5, 3))


def test_strided_inputs_and_gradients():
    """Channels-last views (as the Context Cluster MLP's permute) and a non-contiguous upstream gradient."""
    g = torch.Generator().manual_seed(1)
    nchw = torch.randn(2, 24, 6, 5, generator=g)
    layer, reference = Linear(24, 40), torch.nn.Linear(24, 40)
    reference.load_state_dict(layer.state_dict())
    outs = []
    for module in (layer, reference):
        x = nchw.clone().requires_grad_()
        y = module(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # the gradient arrives permuted
        y.square().sum().backward()
        outs.append((y.detach(), x.grad, module.weight.grad, module.bias.grad))
    for a, r in zip(*outs):
        assert_rel(a, r, RTOL)


@pytest.mark.parametrize("case", ["float64", "autocast", "aten", "no_grad_1d"])
def test_other_cases_are_f_linear_exactly(case):
    x, w, b = _inputs((33, 16), 24)
    if case == "float64":
        x, w, b = x.double(), w.double(), b.double()
        assert torch.equal(linear(x, w, b), F.linear(x, w, b))
    elif case == "autocast":
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out, ref = linear(x, w, b), F.linear(x, w, b)
        assert out.dtype == torch.bfloat16 and torch.equal(out, ref)
    elif case == "aten":
        with cpu_linear_backend("aten"):
            assert torch.equal(linear(x, w, b), F.linear(x, w, b))
        assert get_cpu_linear_backend() == "onednn"
    else:
        assert torch.equal(linear(x[0], w, b), F.linear(x[0], w, b))


def test_traced_graph_holds_the_standard_operator():
    layer = Linear(16, 8).eval()
    graph = str(torch.jit.trace(layer, torch.randn(4, 16)).inlined_graph)
    assert "aten::linear" in graph and "mkldnn" not in graph


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="unknown CPU linear backend 'mkl'"):
        with cpu_linear_backend("mkl"):
            pass


def test_environment_variable_turns_it_off_and_typos_warn():
    code = "from ctxseg.layers.linear import get_cpu_linear_backend as g; print(g())"
    env = dict(os.environ, PYTHONPATH=ROOT, CTXSEG_CPU_LINEAR="aten")
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "aten"
    env["CTXSEG_CPU_LINEAR"] = "onedn"
    run = subprocess.run([sys.executable, "-W", "always", "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert run.stdout.strip() == "onednn"
    assert "CTXSEG_CPU_LINEAR='onedn' is not one of onednn, aten" in run.stderr


def test_mlp_checkpoints_match_timm():
    ours, theirs = Mlp(12, 20, drop=0.1), timm.layers.Mlp(12, 20, drop=0.1)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
        [(k, v.shape) for k, v in theirs.state_dict().items()]
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(3, 7, 12)
    assert_rel(ours.eval()(x), theirs.eval()(x), RTOL)


def _mlp_pass(mlp, x, upstream, fused):
    """Output and gradients (input, then parameters) of the block, or of its layers called one by one."""
    x = x.detach().clone().requires_grad_()
    mlp.zero_grad(set_to_none=True)
    out = mlp(x) if fused else mlp.drop2(mlp.fc2(mlp.drop1(mlp.act(mlp.fc1(x)))))
    out.backward(upstream)
    return out.grad_fn, [out.detach(), x.grad] + [p.grad for p in mlp.parameters()]


@pytest.mark.parametrize("layout", ["rows", "map", "channels_last_view", "one_block"])
def test_fused_mlp_equals_its_layers(layout):
    """The one-function GELU MLP (pre-activation kept, the hidden layer in blocks of tokens, the last one
    partial) equals the layers called one by one: values and every gradient, with a strided input and a
    non-contiguous upstream gradient too; within one block it runs their very operations, bit for bit."""
    torch.manual_seed(0)
    mlp = Mlp(24, 96).train()
    x = {"rows": torch.randn(2 * TOKEN_BLOCK + 300, 24), "map": torch.randn(2, 40, 31, 24),
         "channels_last_view": torch.randn(2, 24, 40, 31).permute(0, 2, 3, 1),
         "one_block": torch.randn(2, 5, 7, 24)}[layout]
    upstream = torch.randn(*reversed(x.shape)).permute(*reversed(range(x.dim())))
    fused_fn, fused = _mlp_pass(mlp, x, upstream, fused=True)
    plain_fn, plain = _mlp_pass(mlp, x, upstream, fused=False)
    assert type(fused_fn).__name__ == "_GeluMlpFunctionBackward"
    assert type(plain_fn).__name__ != type(fused_fn).__name__
    for a, b in zip(fused, plain):
        if layout == "one_block":
            assert torch.equal(a, b)
        else:
            assert_rel(a, b, RTOL)


@pytest.mark.parametrize("case", ["dropout", "tanh_gelu", "float64", "aten_backend", "no_grad"])
def test_mlp_cases_left_to_the_layers(case):
    """Active dropout (between the activation and fc2), another activation, float64 and the aten route run
    the layers one by one."""
    torch.manual_seed(0)
    act = (lambda: torch.nn.GELU(approximate="tanh")) if case == "tanh_gelu" else torch.nn.GELU
    mlp = Mlp(8, 16, act_layer=act, drop=0.2 if case == "dropout" else 0.0).train()
    x = torch.randn(4, 8, requires_grad=True)
    if case == "float64":
        mlp, x = mlp.double(), x.double()
    context = cpu_linear_backend("aten") if case == "aten_backend" else torch.no_grad() if case == "no_grad" \
        else contextlib.nullcontext()
    with context:
        out = mlp(x)
    assert out.grad_fn is None if case == "no_grad" else type(out.grad_fn).__name__ != "_GeluMlpFunctionBackward"


@pytest.mark.parametrize("config", ["configs/toy/iiwa_swin_toy.py", "configs/toy/fpn_coc_toy.py"])
def test_whole_model_losses_and_gradients_match_aten(config):
    """A training step's losses and every parameter's gradient (IIWA: Swin, fusion neck, decoder with its
    window matching; Context Cluster), oneDNN against ``F.linear``."""
    from detectron2.config import LazyConfig, instantiate

    cfg = LazyConfig.load(os.path.join(ROOT, config))
    torch.manual_seed(0)
    model = instantiate(cfg.model).train()
    for module in model.modules():  # the same forward twice: no random dropout or drop-path
        if isinstance(module, torch.nn.modules.dropout._DropoutNd):
            module.p = 0.0
        elif isinstance(module, timm.layers.DropPath):
            module.drop_prob = 0.0
    g = torch.Generator().manual_seed(4)
    batch = [{"image": torch.randint(0, 256, (3, 64, 96), generator=g).float(),
              "sem_seg": torch.randint(0, model.num_classes, (64, 96), generator=g)} for _ in range(2)]
    results = []
    for backend in ("onednn", "aten"):
        model.zero_grad(set_to_none=True)
        with cpu_linear_backend(backend):
            losses = model(batch)
            sum(losses.values()).backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append(({k: v.detach() for k, v in losses.items()}, grads))
    (losses, grads), (ref_losses, ref_grads) = results
    for k in ref_losses:
        assert_rel(losses[k], ref_losses[k], RTOL)
    assert grads.keys() == ref_grads.keys() and len(grads) > 20
    # Relative to the largest gradient of the model: some gradients are rounding noise around an exact zero
    # (a key bias under softmax), where a per-tensor relative error means nothing.
    flat = [torch.cat([g[n].flatten() for n in ref_grads]) for g in (grads, ref_grads)]
    assert_rel(*flat, RTOL)
