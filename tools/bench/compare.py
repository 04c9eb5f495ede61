#!/usr/bin/env python
"""Time this checkout side by side with a baseline checkout (and timm's Swin): ratios measured in one run.

    python tools/bench/compare.py --baseline /path/to/baseline-checkout [--suite layers swin iiwa coc]
        [--repeats 5] [--threads 2] [--device cpu|cuda] [--dtype fp32|bf16|fp16] [--channels-last]

Make the baseline checkout with ``git worktree add /tmp/ctxseg-base 8dcaa2c``. Each implementation runs in
its own worker process (``tools/bench/cases.py``, which imports the ``ctxseg`` of its checkout; timm's
Swin runs in a third one) and the workers take turns: every round runs each case and mode once per
implementation, in an order rotated from round to round, so that load changes on a shared machine hit
all sides alike. After ``--warmup`` untimed runs, the median of ``--repeats`` rounds is printed with the
range and the ratios (baseline time / this checkout's time: above 1 means this checkout is faster; "cpu"
gives the ratio of the workers' process times, less sensitive to other processes taking the cores).

Suites (cases in ``tools/bench/cases.py``):

- ``layers``: Self-IIWA, MS Cross-IIWA (key windows of three memories and the matched-window gather
  included), the two in sequence (one decoder block) at the Swin-S ADE20K decoder sizes (C=256, 8x8
  windows, 8 heads, query 64x64, memories 128x128, 64x64, 64x64, batch 2), and the neck's three
  Cross-IIWA fusions in cascade at their 512x512 sizes; forward (eval) and forward+backward (train).
- ``swin``: Swin-S with the standard strides at 448x448 and 512x512, batch 2, against timm's
  ``swin_small_patch4_window7_224`` built for the same size; and with IIWA's dilated strides at 512x512.
- ``iiwa``: the IIWA Swin-S ADE20K model (``projects/IIWA/configs/ade20k/iiwa_swin_s_512x512_160k.py``),
  random weights, a batch of 2 random 512x512 images: inference forward and the whole training step
  (forward with losses, backward, the config's optimizer) split by part, with and without activation
  checkpointing (Swin stages and decoder blocks), and the peak memory of each.
- ``coc``: the same for the Semantic FPN Context Cluster models (``--coc-models``).

Peak memory: on CUDA the peak allocation; on the CPU the peak resident set over the resident set before
the run, measured in a fresh process per case and side after one warm-up run, with glibc's
``MALLOC_MMAP_THRESHOLD_=65536`` so that freed tensors go back to the system at once (the figure is the
peak of live memory). Those processes run before the timing; ``--no-memory`` skips them.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)  # this checkout's command-line helpers (they import neither torch nor ctxseg)
from ctxseg_cli.runner import positive_int  # noqa: E402

CASES = os.path.join(ROOT, "tools", "bench", "cases.py")
COC_MODELS = [f"coc_{size}_{p}" for size in ("small", "medium") for p in (4, 25, 49)]
SUITES = {
    "layers": ([("self_iiwa", "decoder sizes"), ("ms_cross_iiwa", "decoder sizes"),
                ("decoder_block", "decoder sizes"), ("fusion_neck", "neck, 512x512")], ["fwd", "fwd_bwd"]),
    "swin": ([("swin_s_448", "448x448"), ("swin_s_512", "512x512"), ("swin_s_dilated_512", "512x512, IIWA strides")],
             ["fwd", "fwd_bwd"]),
    "iiwa": ([("iiwa_swin_s", "512x512"), ("iiwa_swin_s+ckpt", "512x512, checkpointing")], ["fwd", "step"]),
}
MODE_NAMES = {"fwd": "forward", "fwd_bwd": "forward+backward", "step": "training step"}


def parse_args(argv=None):
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", help="root of a baseline checkout (e.g. a git worktree of 8dcaa2c)")
    parser.add_argument("--suite", nargs="+", default=["layers", "swin", "iiwa"],
                        choices=[*SUITES, "coc"], help="what to measure")
    parser.add_argument("--cases", nargs="+", help="only these cases of the suites (e.g. swin_s_512 iiwa_swin_s)")
    parser.add_argument("--modes", nargs="+", choices=list(MODE_NAMES), help="only these passes")
    parser.add_argument("--coc-models", nargs="+", default=COC_MODELS, choices=COC_MODELS)
    parser.add_argument("--repeats", type=positive_int, default=5, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per case, mode and side first")
    parser.add_argument("--threads", type=positive_int, default=2, help="torch.set_num_threads in every worker")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"], help="autocast dtype")
    parser.add_argument("--channels-last", action="store_true", help="channels-last images and conv weights")
    parser.add_argument("--batch", type=positive_int, default=2, help="images per training step of the model cases")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--json", help="also write every measurement to this file")
    args = parser.parse_args(argv)
    _check_selection(parser, args)
    return args


def _check_selection(parser, args):
    """Refuse a baseline that is no ctxseg checkout, and case or mode names that select nothing (a typo would
    otherwise print an empty table)."""
    if args.baseline and not os.path.isfile(os.path.join(args.baseline, "ctxseg", "__init__.py")):
        parser.error(f"--baseline {args.baseline}: not a ctxseg checkout (no ctxseg/__init__.py there); make one "
                     f"with 'git worktree add /tmp/ctxseg-base 8dcaa2c'")
    suites = {name: SUITES[name] for name in args.suite if name in SUITES}
    if "coc" in args.suite:
        suites["coc"] = ([(m, "") for m in args.coc_models], ["fwd", "step"])
    cases = [case for suite_cases, _ in suites.values() for case, _ in suite_cases]
    unknown = [case for case in args.cases or [] if case not in cases]
    if unknown:
        parser.error(f"--cases {' '.join(unknown)}: not a case of --suite {' '.join(args.suite)} "
                     f"(its cases: {', '.join(cases)})")
    modes = {mode for _, suite_modes in suites.values() for mode in suite_modes}
    unknown = [mode for mode in args.modes or [] if mode not in modes]
    if unknown:
        parser.error(f"--modes {' '.join(unknown)}: not a pass of --suite {' '.join(args.suite)} "
                     f"(its passes: {', '.join(sorted(modes))})")


class Worker:
    """A ``cases.py`` process measuring one implementation; requests and answers are JSON lines."""

    def __init__(self, name, root, args, impl="ctxseg", env=None):
        self.name = name
        self.root = os.path.abspath(root)
        command = [sys.executable, "-u", CASES, "--threads", str(args.threads), "--device", args.device,
                   "--dtype", args.dtype, "--impl", impl, "--batch", str(args.batch)]
        if args.channels_last:
            command.append("--channels-last")
        env = dict(os.environ, PYTHONPATH=self.root, **(env or {}))
        self.process = subprocess.Popen(command, cwd=self.root, env=env, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        hello = self._read()
        if os.path.dirname(hello["ctxseg"]) != self.root:
            self.close()
            raise RuntimeError(f"the {name} worker imported ctxseg from {hello['ctxseg']}, not from {self.root}")

    def _read(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.name} worker ended (exit code {self.process.wait()}); see its stderr")
        return json.loads(line)

    def request(self, cmd, case, mode=None):
        """Send one request and return the answer; a failure in the worker raises here, naming the case."""
        self.process.stdin.write(json.dumps({"cmd": cmd, "case": case, "mode": mode}) + "\n")
        self.process.stdin.flush()
        answer = self._read()
        if "error" in answer:
            raise RuntimeError(f"{self.name}, case {case}, {cmd} {mode or ''}: {answer['error']}")
        return answer

    def close(self):
        """End the process."""
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait()


def _timm_has(case):
    """timm's Swin runs the standard-stride Swin cases only."""
    return case.startswith("swin_s_") and "dilated" not in case


def git_state(root):
    """Short commit of a checkout, with "+changes" when its working tree differs from it."""
    def git(*cmd):
        return subprocess.run(["git", "-C", root, *cmd], capture_output=True, text=True).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def measure_times(workers, cases, modes, args):
    """{(case, mode, side): [parts dict per round]}, the sides taking turns."""
    results = {}
    for case, _ in cases:
        sides = [w for w in workers if w.name != "timm" or _timm_has(case)]
        for w in sides:
            w.request("build", case)
        for mode in modes:
            for w in sides:
                for _ in range(args.warmup):
                    w.request("run", case, mode)
        for r in range(args.repeats):
            for mode in modes:
                for w in sides[r % len(sides):] + sides[:r % len(sides)]:
                    answer = w.request("run", case, mode)
                    results.setdefault((case, mode, w.name), []).append({**answer["parts"], "cpu": answer["cpu"]})
        for w in sides:
            w.request("drop", case)
        print(f"  measured {case}", file=sys.stderr)
    return results


def measure_memory(sides, cases, modes, args):
    """{(case, mode, side): (MiB, exact)}: one fresh worker per case and side (see the module doc)."""
    memory = {}
    for case, _ in cases:
        for name, root, impl in sides:
            if impl == "timm" and not _timm_has(case):
                continue
            worker = Worker(name, root, args, impl, env={"MALLOC_MMAP_THRESHOLD_": "65536"})
            try:
                worker.request("build", case)
                for mode in modes:
                    worker.request("run", case, mode)  # warm-up: code paged in, optimizer state created
                    answer = worker.request("memory", case, mode)
                    memory[(case, mode, name)] = (answer["mib"], answer["exact"])
            finally:
                worker.close()
        print(f"  memory of {case}", file=sys.stderr)
    return memory


def _total(parts):
    # matching is inside the head's time; cpu is the process time of the whole run, not a part
    return sum(v for k, v in parts.items() if k not in ("matching", "cpu"))


def _median(runs, key=None):
    values = [_total(p) if key is None else p.get(key, 0.0) for p in runs]
    return statistics.median(values), min(values), max(values)


def print_ratios(title, cases, modes, results, memory, names):
    """One row per case and mode: each side's median (range), ratios to this checkout, peak memory."""
    others = [n for n in names if n != "this"]
    print(f"\n### {title}\n")
    columns = ["case", "pass", "this checkout, s"] + [f"{n}, s | {n} / this" for n in others]
    rule = "|---|---|---:|" + "---:|---:|" * len(others)
    if memory:
        columns.append("peak MiB: " + ", ".join(names))
        rule += "---:|"
    print("| " + " | ".join(columns) + " |")
    print(rule)
    for case, label in cases:
        for mode in modes:
            runs = results.get((case, mode, "this"))
            if not runs:
                continue
            mine, low, high = _median(runs)
            row = f"| {case} ({label}) | {MODE_NAMES[mode]} | {mine:.3f} ({low:.3f}-{high:.3f}) |"
            for n in others:
                if (case, mode, n) in results:
                    theirs, low, high = _median(results[(case, mode, n)])
                    cpu_ratio = _median(results[(case, mode, n)], "cpu")[0] / _median(runs, "cpu")[0]
                    row += f" {theirs:.3f} ({low:.3f}-{high:.3f}) | **{theirs / mine:.2f}x** (cpu {cpu_ratio:.2f}x) |"
                else:
                    row += " - | - |"
            if memory:
                figures = [memory.get((case, mode, n)) for n in names]
                row += " " + ", ".join("-" if f is None else f"{f[0]:.0f}{'' if f[1] else '*'}" for f in figures) + " |"
            print(row)


def print_parts(cases, modes, results, names):
    """Median seconds per part of the model cases, each side, with each part's share of the whole."""
    for case, label in cases:
        for mode in modes:
            sides = [n for n in names if (case, mode, n) in results]
            if not sides or "total" in results[(case, mode, sides[0])][0]:
                continue
            print(f"\n{case} ({label}), {MODE_NAMES[mode]}, median seconds per part (share of the whole):\n")
            print("| part | " + " | ".join(sides) + " |")
            print("|---|" + "---:|" * len(sides))
            parts = [p for p in results[(case, mode, sides[0])][0] if p != "cpu"]
            for part in parts:
                row = f"| {part}{' (inside head)' if part == 'matching' else ''} |"
                for n in sides:
                    runs = results[(case, mode, n)]
                    value = _median(runs, part)[0]
                    row += f" {value:.3f} ({value / _median(runs)[0]:.1%}) |"
                print(row)


def main(argv=None):
    """Start the workers, measure every suite, print the tables."""
    args = parse_args(argv)
    sides = [("this", ROOT, "ctxseg")]
    if args.baseline:
        sides.append(("baseline", args.baseline, "ctxseg"))
    if "swin" in args.suite:
        sides.append(("timm", ROOT, "timm"))
    names = [name for name, _, _ in sides]
    suites = {name: SUITES[name] for name in args.suite if name in SUITES}
    if "coc" in args.suite:
        suites["coc"] = ([(m, "512x512") for m in args.coc_models], ["fwd", "step"])
    suites = {suite: ([c for c in cases if not args.cases or c[0] in args.cases],
                      [m for m in modes if not args.modes or m in args.modes])
              for suite, (cases, modes) in suites.items()}

    load_start = os.getloadavg()
    memory = {}
    if not args.no_memory:
        for suite, (cases, modes) in suites.items():
            if suite in ("iiwa", "coc"):
                memory.update(measure_memory(sides, cases, modes, args))
    workers = [Worker(name, root, args, impl) for name, root, impl in sides]
    results = {}
    try:
        for suite, (cases, modes) in suites.items():
            results.update(measure_times(workers, cases, modes, args))
    finally:
        for w in workers:
            w.close()
    load_end = os.getloadavg()

    import torch
    print(f"this checkout {git_state(ROOT)}" + (f", baseline {git_state(args.baseline)} ({args.baseline})"
                                                if args.baseline else "")
          + f"; torch {torch.__version__}; {args.device}, {args.dtype}"
          + (", channels-last" if args.channels_last else "") + f", {args.threads} threads")
    print(f"median of {args.repeats} interleaved rounds after {args.warmup} warm-up run(s); load average "
          f"(1/5/15 min) {'/'.join(f'{x:.2f}' for x in load_start)} at the start, "
          f"{'/'.join(f'{x:.2f}' for x in load_end)} at the end; {os.cpu_count()} CPUs")
    for suite, (cases, modes) in suites.items():
        print_ratios(suite, cases, modes, results, {k: v for k, v in memory.items() if k[0] in dict(cases)}, names)
        print_parts(cases, modes, results, names)
    if memory and not all(exact for _, exact in memory.values()):
        print("\n* lifetime peak of the process (the peak mark could not be reset)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "times": {"|".join(k): v for k, v in results.items()},
                       "memory": {"|".join(k): v for k, v in memory.items()}}, f, indent=1)


if __name__ == "__main__":
    main()
