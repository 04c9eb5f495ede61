"""The tutorials of docs/tutorials run: their ``python`` code blocks, in order, in one namespace, in a
temporary folder (whose ``datasets`` is ``$DETECTRON2_DATASETS``); a block whose first line is
``# file: NAME`` is written to that file instead. Every relative link in docs/ and README.md points to a
file that exists."""
import os
import re

import pytest
import torch

from .conftest import ROOT

DOCS = os.path.join(ROOT, "docs")
TUTORIALS = ["add_backbone.md", "add_head.md", "add_dataset.md"]
CODE_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
FILE_MARK = "# file:"
PAGES = ["README.md", "projects/IIWA/README.md", "docs/architecture.md", "docs/iiwa_reconstruction.md",
         *(f"docs/tutorials/{name}" for name in TUTORIALS)]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def python_blocks(path):
    """The ``python`` code blocks of a Markdown file, in order."""
    with open(path, encoding="utf-8") as f:
        return CODE_BLOCK.findall(f.read())


@pytest.mark.parametrize("name", [name if name == "add_backbone.md" else pytest.param(name, marks=pytest.mark.slow)
                                  for name in TUTORIALS])
def test_tutorial_runs(name, tmp_path, monkeypatch):
    path = os.path.join(DOCS, "tutorials", name)
    blocks = python_blocks(path)
    assert blocks, f"{path} has no python code block"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "datasets"))
    torch.manual_seed(0)
    namespace = {"__name__": f"tutorial_{name[:-3]}"}
    for index, block in enumerate(blocks):
        first_line = block.split("\n", 1)[0]
        if first_line.startswith(FILE_MARK):
            (tmp_path / first_line[len(FILE_MARK):].strip()).write_text(block, encoding="utf-8")
            continue
        code = compile(block, f"{path} (python block {index + 1})", "exec")
        exec(code, namespace)


@pytest.mark.parametrize("page", PAGES)
def test_relative_links_exist(page):
    path = os.path.join(ROOT, page)
    with open(path, encoding="utf-8") as f:
        targets = [t for t in LINK.findall(f.read()) if "://" not in t]
    missing = [t for t in targets if not os.path.exists(os.path.join(os.path.dirname(path), t))]
    assert not missing, f"{page} links to files that do not exist: {missing}"
