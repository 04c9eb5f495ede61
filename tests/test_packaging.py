"""The distribution: a wheel built from the source tree installs into a fresh environment, where the
console scripts and the model zoo work without the checkout."""
import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig

import pytest

from ctxseg import model_zoo

from .conftest import ROOT

# What a build reads: the metadata, the packages and the config trees (setup.py lists them).
SOURCES = ["pyproject.toml", "setup.py", "README.md", "LICENSE", "ctxseg", "ctxseg_cli", "configs", "projects"]


def _run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_environment_and_runs_there(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        path = os.path.join(ROOT, name)
        if os.path.isdir(path):
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(path, source / name)
    # The build backend of the running environment (no download), no dependency resolution.
    _run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "--no-index",
          "-w", str(tmp_path / "dist"), "-q"])
    (wheel,) = (tmp_path / "dist").glob("ctxseg-*.whl")

    # A fresh environment that reuses this one's torch and Detectron2 through a .pth file (its lines are
    # appended to sys.path; this environment's own .pth files, such as an editable ctxseg, are not run).
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    purelib = sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    with open(os.path.join(purelib, "base_environment.pth"), "w") as f:
        f.write("\n".join(site.getsitepackages()) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps", "--no-index",
          "-q", str(wheel)])

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    help_text = _run([str(venv / "bin" / "ctxseg-train"), "--help"], env=env, cwd=outside).stdout
    assert "ctxseg-train --config-file" in help_text and ".yaml" in help_text
    scripts = _run([str(venv / "bin" / "python"), "-c", "from importlib.metadata import distribution\n"
                    "print(' '.join(e.name for e in distribution('ctxseg').entry_points))"], env=env, cwd=outside)
    scripts = scripts.stdout.split()
    assert "ctxseg-demo" in scripts and "ctxseg-prepare-cityscapes" in scripts
    for script in scripts:  # every console script answers --help from the installed package
        assert script in _run([str(venv / "bin" / script), "--help"], env=env, cwd=outside).stdout
    script = (
        "import json, ctxseg\n"
        "from ctxseg import model_zoo\n"
        "cfg = model_zoo.get_config('IIWA/ade20k/iiwa_swin_s_512x512_160k.py')\n"
        "model = model_zoo.get('toy/fpn_r18_toy.yaml')\n"
        "print(json.dumps({'ctxseg': ctxseg.__file__, 'names': model_zoo.list_configs(),\n"
        "                  'file': model_zoo.get_config_file('toy/fpn_r18_toy.yaml'),\n"
        "                  'classes': [cfg.model.num_classes, model.num_classes]}))\n")
    found = json.loads(_run([str(venv / "bin" / "python"), "-c", script], env=env, cwd=outside).stdout.splitlines()[-1])
    assert found["ctxseg"].startswith(purelib)
    assert found["file"] == os.path.join(purelib, "ctxseg", "model_zoo", "configs", "toy", "fpn_r18_toy.yaml")
    assert found["names"] == model_zoo.list_configs()  # every config travelled
    assert found["classes"] == [150, 7]
