"""The command-line tools: one way to call them, instant --help, one-line errors for a user's mistakes."""
import importlib
import os
import subprocess
import sys

import pytest

from .conftest import ROOT, TINY_SWIN_CONFIG
from .conftest import TINY_TOY_CONFIG as CONFIG

TOOLS = ["train_net", "demo", "analyze_model", "convert_weights", "browse_dataset", "make_toy_dataset",
         "prepare_ade20k", "prepare_cityscapes", "prepare_pascal_context", "export_model", "plot_metrics"]


def _tool(name):
    return importlib.import_module(f"ctxseg_cli.{name}")


def test_parsers_import_no_heavy_module():
    # --help must answer without importing torch or Detectron2 (seconds on a cold start).
    code = ("import sys\n"
            f"for name in {TOOLS!r}:\n"
            "    __import__('ctxseg_cli.' + name, fromlist=['build_parser']).build_parser().format_help()\n"
            "heavy = sorted(m for m in ('torch', 'detectron2', 'ctxseg', 'cv2', 'numpy') if m in sys.modules)\n"
            "print(','.join(heavy))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("name", TOOLS)
def test_help_shows_lazyconfig_examples(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _tool(name).main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--debug" in text and "ctxseg-" in text
    assert "MODEL.WEIGHTS" not in text  # LazyConfig examples first; yacs keys only with a YAML config
    if "SOLVER." in text:
        assert "YAML" in text or ".yaml" in text
    if "--config-file" in text:
        assert "KEY=VALUE" in text


def _error_line(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.slow
def test_train_net_user_errors_are_one_line(toy_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DETECTRON2_DATASETS", toy_root)
    train = _tool("train_net")
    out = f"train.output_dir={tmp_path}"
    assert train.main(["--config-file", CONFIG, out, "train.max_itr=5"]) == 2
    assert "did you mean train.max_iter" in _error_line(capsys)
    assert train.main(["--config-file", CONFIG, out, "optimizer.lr=fast"]) == 2
    assert "optimizer.lr expects a number" in _error_line(capsys)
    assert train.main(["--config-file", CONFIG, out, "train.checkpointer.period=0"]) == 2
    assert "train.checkpointer.period must be a positive integer" in _error_line(capsys)
    assert train.main(["--config-file", CONFIG, out, "train.max_iter=0"]) == 2
    assert "train.max_iter must be a positive integer" in _error_line(capsys)
    assert train.main(["--config-file", CONFIG, "--eval-only", out, "dataloader.test.dataset.name=nope"]) == 2
    assert "dataloader.test.dataset.name: Unknown dataset 'nope'" in _error_line(capsys)
    assert train.main(["--config-file", str(tmp_path / "missing.py")]) == 2
    assert "config file not found" in _error_line(capsys)
    assert not os.listdir(tmp_path)  # nothing ran, nothing written


def test_overrides_may_stand_anywhere():
    from ctxseg_cli.runner import parse_tool_args

    args = parse_tool_args(_tool("train_net").build_parser(),
                           ["train.max_iter=3", "--config-file", CONFIG, "+train.x=1", "--resume", "a.b=c"])
    assert args.resume and args.config_file == CONFIG
    assert args.overrides == ["train.max_iter=3", "+train.x=1", "a.b=c"]
    args = parse_tool_args(_tool("demo").build_parser(), ["--config-file", CONFIG, "--input", "a.png", "b.png",
                                                           "train.init_checkpoint=m.pth", "--output", "out"])
    assert args.input == ["a.png", "b.png"] and args.overrides == ["train.init_checkpoint=m.pth"]
    args = parse_tool_args(_tool("demo").build_parser(), ["--config-file", CONFIG, "--input", "a.png", "--output",
                                                           "out", "--opts", "a.b=1", "c=2"])
    assert args.opts == ["a.b=1", "c=2"] and args.overrides == []


def test_argument_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _tool("train_net").main(["--config-file", CONFIG, "--num-gpus", "0"])
    assert exit_info.value.code == 2
    assert "--num-gpus: must be a positive integer, got 0" in capsys.readouterr().err


@pytest.mark.slow
def test_debug_shows_the_traceback(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "train_net.py"), "--debug", "--config-file",
                             CONFIG, f"train.output_dir={tmp_path}", "train.max_itr=5"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "ConfigError" in result.stderr


def test_other_tools_report_one_line(tmp_path, capsys):
    assert _tool("browse_dataset").main(["--dataset", "no_such_set", "--output", str(tmp_path / "b")]) == 2
    assert "Unknown dataset 'no_such_set'" in _error_line(capsys)
    assert _tool("analyze_model").main(["--config-file", CONFIG, "model.num_clases=3"]) == 2
    assert "did you mean model.num_classes" in _error_line(capsys)
    assert _tool("analyze_model").main(["--config-file", CONFIG, "model.backbone.out_channels=-4"]) == 2
    assert "cannot build 'model'" in _error_line(capsys)
    assert _tool("make_toy_dataset").main(["--output", str(tmp_path / "t"), "--size", "4", "4"]) == 2
    assert "--size of at least 8 8" in _error_line(capsys)
    assert _tool("prepare_ade20k").main(["--root", str(tmp_path / "nowhere")]) == 2
    assert "Missing folder" in _error_line(capsys)
    assert not (tmp_path / "b").exists() and not (tmp_path / "t").exists()


@pytest.mark.parametrize("override,message", [
    ("model.num_classes=0", "num_classes must be a positive int, got 0"),
    ("model.head.num_classes=-1", "SemanticFPNHead: num_classes must be a positive int, got -1"),
    ("model.backbone.bottom_up.window_size=0", "D2SwinTransformer: window_size must be a positive int, got 0"),
    ("model.backbone.bottom_up.num_heads=[1,0,2,2]", "D2SwinTransformer: num_heads must be positive ints"),
])
def test_sizes_of_zero_are_config_errors(override, message, capsys):
    """A zero size would otherwise fail inside a layer (division by zero, an empty weight) at the first step."""
    assert _tool("analyze_model").main(["--config-file", TINY_SWIN_CONFIG, override]) == 2
    line = _error_line(capsys)
    assert "cannot build 'model'" in line and message in line


@pytest.mark.parametrize("tool, option", [("compare.py", "--repeats"), ("compare.py", "--batch"),
                                          ("gemm.py", "--repeats"), ("gemm.py", "--threads")])
def test_benchmarks_refuse_counts_below_one(tool, option):
    """A count of 0 would end in a traceback (an empty median, set_num_threads(0)) or an empty table."""
    run = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "bench", tool), option, "0"],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2
    assert f"argument {option}: must be a positive integer, got 0" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("arguments, message", [
    (["--baseline", "/nonexistent"], "--baseline /nonexistent: not a ctxseg checkout"),
    (["--suite", "layers", "--cases", "self_iwa"], "--cases self_iwa: not a case of --suite layers"),
    (["--suite", "iiwa", "--cases", "swin_s_512"], "--cases swin_s_512: not a case of --suite iiwa"),
    (["--suite", "iiwa", "--modes", "fwd_bwd"], "--modes fwd_bwd: not a pass of --suite iiwa"),
])
def test_compare_refuses_selections_of_nothing(arguments, message):
    """A missing baseline ended in a traceback; a mistyped case or a pass the suite lacks in an empty table."""
    run = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "bench", "compare.py"), *arguments],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr
