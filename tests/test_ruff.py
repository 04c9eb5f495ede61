"""The repository passes its linter: ``ruff check`` with the ``[tool.ruff]`` settings of pyproject.toml
(pyflakes, pycodestyle, import order)."""
import importlib.util
import subprocess
import sys

import pytest

from .conftest import ROOT


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None,
                    reason="ruff is not installed (it comes with the [dev] extra: pip install -e .[dev])")
def test_ruff_check_passes():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", ROOT],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, f"ruff check found problems (try ruff check --fix):\n{result.stdout}{result.stderr}"
