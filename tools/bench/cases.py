#!/usr/bin/env python
"""The benchmark cases, run inside a worker process by ``tools/bench/compare.py``.

A worker imports the ``ctxseg`` it finds on its ``PYTHONPATH`` (this checkout or a baseline checkout),
so the cases use only names both have: the IIWA layers, ``key_windows_from_memories``, ``swin_small``
and the project configs. ``--impl timm`` runs timm's Swin instead of ctxseg's in the Swin cases.

Each case builds its inputs from fixed seeds (the same tensors on every side) and runs one mode:

- ``fwd``: eval mode under ``torch.inference_mode``.
- ``fwd_bwd``: train mode, forward and backward of a scalar of the outputs (model cases: the losses).
- ``step`` (model cases): a whole training step, ``fwd_bwd`` then the config's optimizer step.

Model cases time their parts: the bottom-up backbone, the neck (Cross-IIWA fusions or FPN) and the head
with its losses, each forward and backward (the parts are joined by detached leaves, so that each
part's backward runs on its own), the window matching inside the head and the optimizer step.
"""
import argparse
import contextlib
import ctypes
import json
import os
import sys
import time

import torch
from peak_rss import max_rss_kib, reset_peak_rss, status_kib  # tools/bench/peak_rss.py, beside this script

ROOT = os.getcwd()  # the worker runs in the root of the checkout it measures
LAYER_BATCH = 2
MODEL_CONFIGS = {
    "iiwa_swin_s": "projects/IIWA/configs/ade20k/iiwa_swin_s_512x512_160k.py",
    **{f"coc_{size}_{p}": f"projects/ContextCluster/configs/ade20k/fpn_coc_{size}_{p}_512x512_80k.py"
       for size in ("small", "medium") for p in (4, 25, 49)},
}


class Settings:
    """Device, autocast dtype and memory format of every case."""

    def __init__(self, device="cpu", dtype="fp32", channels_last=False, impl="ctxseg"):
        self.device = torch.device(device)
        self.dtype = dtype
        self.channels_last = channels_last
        self.impl = impl

    def autocast(self):
        """bf16/fp16 autocast when asked for, else nothing."""
        if self.dtype == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16 if self.dtype == "bf16" else torch.float16)

    def sync(self):
        """Wait for the device, so that a clock reading means the work is done."""
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def image_layout(self, x):
        """Channels-last memory for NCHW inputs when asked for."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def _randn(*shape, seed, settings, requires_grad=False):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=generator).to(settings.device)
    return x.requires_grad_(requires_grad)


def _scalar(outputs):
    """A scalar of a tensor or of a collection of tensors whose gradient reaches every element."""
    if torch.is_tensor(outputs):
        outputs = [outputs]
    elif isinstance(outputs, dict):
        outputs = list(outputs.values())
    return sum(o.float().square().mean() for o in outputs)


class Timer:
    """Seconds of named parts (the device synchronised at each mark)."""

    def __init__(self, settings):
        self.settings = settings
        self.parts = {}
        self._last = None

    def start(self):
        self.settings.sync()
        self._last = time.perf_counter()

    def mark(self, part):
        self.settings.sync()
        now = time.perf_counter()
        self.parts[part] = self.parts.get(part, 0.0) + now - self._last
        self._last = now


# ---- layer cases: the IIWA layers at the Swin-S ADE20K sizes, batch 2 ----------------------------------------

class LayerCase:
    """A module and its inputs; ``fwd`` and ``fwd_bwd`` of the whole call, no parts."""

    def __init__(self, settings, module, inputs, call):
        self.settings = settings
        self.module = module.to(settings.device)
        self.inputs = inputs
        self.call = call

    def run(self, mode):
        timer = Timer(self.settings)
        if mode == "fwd":
            self.module.eval()
            with torch.inference_mode(), self.settings.autocast():
                timer.start()
                self.call(self.module, *self.inputs)
                timer.mark("total")
            return timer.parts
        if mode != "fwd_bwd":
            raise ValueError(f"layer cases run fwd or fwd_bwd, not {mode}")
        self.module.train()
        self.module.zero_grad(set_to_none=True)
        for x in self.inputs:
            x.grad = None
        timer.start()
        with self.settings.autocast():
            loss = _scalar(self.call(self.module, *self.inputs))
        loss.backward()
        timer.mark("total")
        return timer.parts


def _decoder_layer_options():
    # The Swin-S ADE20K decoder's blocks: no dropout, stochastic depth up to 0.2 (the last block's rate).
    return dict(attn_drop=0.0, proj_drop=0.0, drop_path=0.2)


def _memories(settings, grad):
    return [_randn(LAYER_BATCH, s, s, 256, seed=10 + i, settings=settings, requires_grad=grad)
            for i, s in enumerate((128, 64, 64))]


def _ms_cross_call(layer, query, *memories):
    from ctxseg.layers import key_windows_from_memories
    return layer(query, *key_windows_from_memories(list(memories), layer.window_size_k))


def _self_then_cross_call(layers, query, *memories):
    return _ms_cross_call(layers[1], layers[0](query), *memories)


def build_layer_case(name, settings):
    """Self-IIWA, MS Cross-IIWA (key windows of three memories included), both in sequence (one decoder
    block), and the three Cross-IIWA fusions of the neck in cascade, at the Swin-S ADE20K 512x512 sizes."""
    from ctxseg.layers import CrossIIWA, MultiScaleCrossIIWA, SelfIIWA
    torch.manual_seed(0)
    query = _randn(LAYER_BATCH, 64, 64, 256, seed=1, settings=settings, requires_grad=True)
    if name == "self_iiwa":
        return LayerCase(settings, SelfIIWA(256, (8, 8), 8, **_decoder_layer_options()), [query],
                         lambda layer, x: layer(x))
    if name == "ms_cross_iiwa":
        layer = MultiScaleCrossIIWA(256, (8, 8), (8, 8), 8, **_decoder_layer_options())
        return LayerCase(settings, layer, [query, *_memories(settings, True)], _ms_cross_call)
    if name == "decoder_block":
        layers = torch.nn.ModuleList([SelfIIWA(256, (8, 8), 8, **_decoder_layer_options()),
                                      MultiScaleCrossIIWA(256, (8, 8), (8, 8), 8, **_decoder_layer_options())])
        return LayerCase(settings, layers, [query, *_memories(settings, True)], _self_then_cross_call)
    if name == "fusion_neck":
        # The dilated Swin-S at 512x512: res2 128x128x96, res3..res5 64x64 with 192, 384, 768 channels.
        fusions = torch.nn.ModuleList([
            CrossIIWA(192, 96, d_model=96, nhead=4, win_size_k=(4, 4), win_size_q=(8, 8)),
            CrossIIWA(384, 192, d_model=192, nhead=8, win_size_k=(4, 4), win_size_q=(4, 4)),
            CrossIIWA(768, 384, d_model=384, nhead=16, win_size_k=(4, 4), win_size_q=(4, 4)),
        ])
        levels = [_randn(LAYER_BATCH, c, s, s, seed=20 + i, settings=settings, requires_grad=True)
                  for i, (c, s) in enumerate(((96, 128), (192, 64), (384, 64), (768, 64)))]

        def cascade(fusions, *levels):
            key, outputs = levels[3], []
            for i in (2, 1, 0):
                key = fusions[i](key, levels[i])
                outputs.append(key)
            return outputs

        return LayerCase(settings, fusions, levels, cascade)
    raise KeyError(name)


# ---- Swin backbone cases ------------------------------------------------------------------------------------

def build_swin_case(name, settings):
    """Swin-S with the standard strides (``swin_s_448``, ``swin_s_512``: the input side) or IIWA's dilated
    ones (``swin_s_dilated_512``: strides 4, 2, 1, 1), batch 2, drop path 0.3 (the IIWA recipe's);
    ``--impl timm``: timm's ``swin_small_patch4_window7_224`` at that size."""
    size = int(name.rsplit("_", 1)[1])
    strides = (4, 2, 1, 1) if "dilated" in name else (4, 2, 2, 2)
    torch.manual_seed(0)
    if settings.impl == "timm":
        import timm
        model = timm.create_model("swin_small_patch4_window7_224", pretrained=False, img_size=size,
                                  drop_path_rate=0.3)

        def call(model, x):  # the four stage outputs, as ctxseg's backbone returns them
            return model.forward_intermediates(x, intermediates_only=True)
    else:
        from ctxseg.modeling.backbone.swin import swin_small
        model = swin_small(drop_path_rate=0.3, strides=strides)

        def call(model, x):
            return model(x)
    image = settings.image_layout(_randn(2, 3, size, size, seed=2, settings=settings))
    if settings.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return LayerCase(settings, model, [image], call)


# ---- model cases: whole training steps ------------------------------------------------------------------------

class _Precomputed(torch.nn.Module):
    """Stands in for a neck's ``bottom_up``: returns given features whatever its input."""

    def __init__(self, features):
        super().__init__()
        self.features = features

    def forward(self, x):
        return self.features


@contextlib.contextmanager
def _swapped(module, name, replacement):
    original = getattr(module, name)
    setattr(module, name, replacement)
    try:
        yield
    finally:
        setattr(module, name, original)


@contextlib.contextmanager
def _timed_matching(timer):
    """Adds the seconds inside MS Cross-IIWA's ``match_windows`` to ``timer.parts["matching"]``."""
    try:
        import ctxseg.layers.ms_cross_iiwa as ms_cross_iiwa
    except ImportError:
        yield
        return
    original = ms_cross_iiwa.match_windows

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            timer.parts["matching"] = timer.parts.get("matching", 0.0) + time.perf_counter() - start

    ms_cross_iiwa.match_windows = timed
    try:
        yield
    finally:
        ms_cross_iiwa.match_windows = original


def _leaves(features):
    return {k: v.detach().requires_grad_(v.requires_grad) for k, v in features.items()}


def _backward(outputs, leaves):
    pairs = [(outputs[k], leaves[k].grad) for k in outputs if leaves[k].grad is not None and outputs[k].requires_grad]
    if pairs:
        torch.autograd.backward([o for o, _ in pairs], [g for _, g in pairs])


class ModelCase:
    """A project config's model and optimizer with a fixed batch; parts timed as the module doc says."""

    def __init__(self, settings, config, checkpointing, batch):
        from detectron2.config import LazyConfig, instantiate

        import ctxseg  # noqa: F401  (patches Detectron2, registers models)
        self.settings = settings
        cfg = LazyConfig.load(os.path.join(ROOT, config))
        if "fpn_coc" in config:
            cfg.model.head.norm = "BN"  # SyncBN needs a process group; one process computes the same
        if checkpointing:
            cfg.model.backbone.bottom_up.use_checkpoint = True
            cfg.model.head.use_checkpoint = True
        torch.manual_seed(0)
        self.model = instantiate(cfg.model).to(settings.device)
        if settings.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        cfg.optimizer.params.model = self.model
        self.optimizer = instantiate(cfg.optimizer)
        generator = torch.Generator().manual_seed(3)
        images = torch.randint(0, 256, (batch, 3, 512, 512), generator=generator).float().to(settings.device)
        self.images = settings.image_layout((images - self.model.pixel_mean) / self.model.pixel_std)
        self.targets = torch.randint(0, self.model.num_classes, (batch, 512, 512), generator=generator)
        self.targets = self.targets.to(settings.device)

    def run(self, mode):
        neck, head = self.model.backbone, self.model.sem_seg_head
        timer = Timer(self.settings)
        if mode == "fwd":
            self.model.eval()
            with torch.inference_mode(), self.settings.autocast(), _timed_matching(timer):
                timer.start()
                bottom = neck.bottom_up(self.images)
                timer.mark("backbone")
                with _swapped(neck, "bottom_up", _Precomputed(bottom)):
                    features = neck(self.images)
                timer.mark("neck")
                head(features)
                timer.mark("head")
            return timer.parts
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        with self.settings.autocast(), _timed_matching(timer):
            timer.start()
            bottom = neck.bottom_up(self.images)
            bottom_leaves = _leaves(bottom)
            timer.mark("backbone")
            with _swapped(neck, "bottom_up", _Precomputed(bottom_leaves)):
                features = neck(self.images)
            feature_leaves = _leaves(features)
            timer.mark("neck")
            losses = head.losses(head(feature_leaves), self.targets)
            timer.mark("head")
        sum(losses.values()).backward()
        timer.mark("head backward")
        _backward(features, feature_leaves)
        timer.mark("neck backward")
        _backward(bottom, bottom_leaves)
        timer.mark("backbone backward")
        if mode == "step":
            self.optimizer.step()
            timer.mark("optimizer")
        elif mode != "fwd_bwd":
            raise ValueError(f"model cases run fwd, fwd_bwd or step, not {mode}")
        return timer.parts


def build_case(name, settings, batch=2):
    """The case ``name``: a layer case, ``swin_s_<size>``, or a model case (``+ckpt``: activation checkpointing)."""
    if name.startswith("swin_s_"):
        return build_swin_case(name, settings)
    base, _, variant = name.partition("+")
    if base in MODEL_CONFIGS:
        return ModelCase(settings, MODEL_CONFIGS[base], variant == "ckpt", batch)
    return build_layer_case(name, settings)


# ---- the worker loop and the memory probe ---------------------------------------------------------------------

def peak_memory(case, mode):
    """Extra memory (MiB) one ``mode`` run of an already warmed-up case needs at its peak, and whether the
    figure is exact: CUDA's peak allocation, or the peak resident set over the one before the run."""
    settings = case.settings
    if settings.device.type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        case.run(mode)
        return (torch.cuda.max_memory_allocated() - before) / 2 ** 20, True
    exact = reset_peak_rss()
    before = status_kib("VmRSS") if exact else max_rss_kib()
    case.run(mode)
    return ((status_kib("VmHWM") if exact else max_rss_kib()) - before) / 1024, exact


def _release_free_memory():
    """Hand the allocator's free heap memory back to the system (glibc), so that an idle worker holds
    only its live tensors while the other side runs."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def worker(settings, batch):
    """Answer JSON requests on stdin, one per line: build a case, run a mode, measure memory, drop a case."""
    # Stray prints of the libraries must not reach the answers: they go to stderr.
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    import ctxseg
    answers.write(json.dumps({"ready": True, "ctxseg": os.path.dirname(os.path.abspath(ctxseg.__file__)),
                              "torch": torch.__version__}) + "\n")
    cases = {}
    for line in sys.stdin:
        request = json.loads(line)
        name = request.get("case")
        try:
            if request["cmd"] == "build":
                cases[name] = build_case(name, settings, batch)
                answer = {}
            elif request["cmd"] == "run":
                cpu = time.process_time()
                parts = cases[name].run(request["mode"])
                answer = {"parts": parts, "cpu": time.process_time() - cpu}
            elif request["cmd"] == "memory":
                mib, exact = peak_memory(cases[name], request["mode"])
                answer = {"mib": mib, "exact": exact}
            elif request["cmd"] == "drop":
                cases.pop(name, None)
                answer = {}
            else:
                raise ValueError(f"unknown command {request['cmd']!r}")
        except Exception as e:  # the driver reports it with the case's name
            answer = {"error": f"{type(e).__name__}: {e}"}
        _release_free_memory()
        answers.write(json.dumps(answer) + "\n")


def parse_args(argv=None):
    """Command-line arguments of a worker (the driver passes them)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--impl", default="ctxseg", choices=["ctxseg", "timm"])
    parser.add_argument("--batch", type=int, default=2, help="images per training step of the model cases")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    torch.set_num_threads(args.threads)
    worker(Settings(args.device, args.dtype, args.channels_last, args.impl), args.batch)
