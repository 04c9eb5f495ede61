#!/usr/bin/env python
"""Where the time of the IIWA Swin-S ADE20K model goes: backbone / fusion / decoder / window matching.

    python tools/bench/iiwa.py [--size 512 512] [--repeats 3] [--threads 2] [--config-file <IIWA config>]

The model is ``projects/IIWA/configs/ade20k/iiwa_swin_s_512x512_160k.py`` with random weights, batch 1.
Its three parts are called in sequence, as the segmentor calls them: the Swin (``backbone.bottom_up``),
the Cross-IIWA fusions (``backbone.fusions``) and the decoder head (IIWA blocks, prediction head and, in
training, the losses). Matching is the time spent inside ``match_windows`` (the similarities, their copy
to float64 numpy and scipy's Hungarian solver), measured by wrapping it; it is part of the decoder's
forward and has no backward.

- forward: eval mode under ``torch.inference_mode``.
- forward+backward: train mode, the decoder's losses on random labels; the parts are separated by
  detached leaves, so that each part's backward is timed on its own (decoder first, then fusion, then
  backbone).

Each of ``--repeats`` rounds runs both, after one untimed warm-up of each; the median per part is printed
with its share of the whole. Peak memory: the increase of the process's peak resident set over the
resident set just before the pass (the first, warm-up pass; Linux: ``/proc/self/clear_refs`` resets
the peak mark, and without it the process's lifetime peak is shown, marked "*").
"""
import argparse
import os
import statistics
import time

import ctxseg  # noqa: F401  (patches Detectron2, registers models)
import ctxseg.layers.ms_cross_iiwa as ms_cross_iiwa

# isort: split
import torch
from detectron2.config import LazyConfig, instantiate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_CONFIG = os.path.join(ROOT, "projects", "IIWA", "configs", "ade20k", "iiwa_swin_s_512x512_160k.py")
PARTS = ["backbone", "fusion", "decoder", "matching"]


def parse_args(argv=None):
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default=DEFAULT_CONFIG, help="an IIWA LazyConfig")
    parser.add_argument("--size", nargs=2, type=int, default=[512, 512], metavar=("H", "W"), help="input size")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds of forward and forward+backward")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    return parser.parse_args(argv)


class MatchingTimer:
    """Wraps ``match_windows`` where MS Cross-IIWA calls it and adds up the seconds spent inside."""

    def __init__(self):
        self.seconds = 0.0
        self._original = ms_cross_iiwa.match_windows

    def __enter__(self):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return self._original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        ms_cross_iiwa.match_windows = timed
        return self

    def __exit__(self, *exc):
        ms_cross_iiwa.match_windows = self._original


class PeakMemory:
    """Peak resident set growth (bytes) during a ``with`` block."""

    def __enter__(self):
        self.exact = _reset_peak()
        self.before = _status_kb("VmRSS")
        return self

    def __exit__(self, *exc):
        self.grown = (_status_kb("VmHWM") - self.before) * 1024


def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _leaves(features):
    return {k: v.detach().requires_grad_() for k, v in features.items()}


def _backward(outputs, leaves):
    names = list(outputs)
    torch.autograd.backward([outputs[k] for k in names], [leaves[k].grad for k in names])


def forward_pass(model, image):
    """Seconds per part of one inference forward."""
    neck, head = model.backbone, model.sem_seg_head
    with torch.inference_mode(), MatchingTimer() as matching:
        start = time.perf_counter()
        bottom = neck.bottom_up(image)
        t_backbone = time.perf_counter()
        fused = neck.fuse(bottom)
        t_fusion = time.perf_counter()
        head(fused)
        end = time.perf_counter()
    return {"backbone": t_backbone - start, "fusion": t_fusion - t_backbone, "decoder": end - t_fusion,
            "matching": matching.seconds}


def train_pass(model, image, targets):
    """Seconds per part (forward + backward) of one training step's gradient computation."""
    neck, head = model.backbone, model.sem_seg_head
    model.zero_grad(set_to_none=True)
    times = dict.fromkeys(PARTS, 0.0)
    with MatchingTimer() as matching:
        start = time.perf_counter()
        bottom = neck.bottom_up(image)
        bottom_leaves = _leaves(bottom)
        t0 = time.perf_counter()
        fused = neck.fuse(bottom_leaves)
        fused_leaves = _leaves(fused)
        t1 = time.perf_counter()
        losses = head.losses(head(fused_leaves), targets)
        t2 = time.perf_counter()
    sum(losses.values()).backward()
    t3 = time.perf_counter()
    _backward(fused, fused_leaves)
    t4 = time.perf_counter()
    _backward(bottom, bottom_leaves)
    end = time.perf_counter()
    times.update(backbone=(t0 - start) + (end - t4), fusion=(t1 - t0) + (t4 - t3), decoder=(t2 - t1) + (t3 - t2),
                 matching=matching.seconds)
    return times


def print_table(title, runs, memory):
    """Median milliseconds per part, its share of the sum of the parts, matching's share of the decoder."""
    medians = {p: statistics.median(r[p] for r in runs) for p in PARTS}
    total = sum(medians[p] for p in PARTS[:3])
    totals = [sum(r[p] for p in PARTS[:3]) for r in runs]
    print(f"\n{title}: medians of {len(runs)} runs, sum {total * 1e3:.0f} ms (whole runs "
          f"{min(totals) * 1e3:.0f}-{max(totals) * 1e3:.0f} ms), peak memory +{memory:.0f} MiB")
    print(f"  {'part':<22} {'ms':>9} {'share':>7}")
    for part in PARTS[:3]:
        print(f"  {part:<22} {medians[part] * 1e3:9.1f} {medians[part] / total:7.1%}")
    print(f"  {'matching (in decoder)':<22} {medians['matching'] * 1e3:9.1f} {medians['matching'] / total:7.1%}"
          f"   = {medians['matching'] / medians['decoder']:.1%} of the decoder")


def main(argv=None):
    """Build the model, time both passes, print the tables."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = LazyConfig.load(args.config_file)
    model = instantiate(cfg.model)
    height, width = args.size
    image = model.normalize(torch.randint(0, 256, (3, height, width)).float())[None]
    targets = torch.randint(0, model.num_classes, (1, height, width))
    print(f"{os.path.relpath(args.config_file, ROOT)} at {height}x{width}, batch 1, {args.threads} threads, "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters")

    model.eval()
    with PeakMemory() as forward_memory:
        forward_pass(model, image)  # warm-up
    forward_runs = []
    model.train()
    with PeakMemory() as train_memory:
        train_pass(model, image, targets)  # warm-up
    train_runs = []
    for _ in range(args.repeats):
        model.eval()
        forward_runs.append(forward_pass(model, image))
        model.train()
        train_runs.append(train_pass(model, image, targets))
    mark = "" if forward_memory.exact else "*"
    print_table("forward (eval, inference mode)", forward_runs, forward_memory.grown / 2 ** 20)
    print_table("forward+backward (train, losses)", train_runs, train_memory.grown / 2 ** 20)
    if mark:
        print("* peak memory: lifetime peak of the process (the peak mark could not be reset)")


if __name__ == "__main__":
    main()
