"""Optional dependencies: ctxseg imports, registers and evaluates Cityscapes without cityscapesscripts; only the
preparation tool needs it, and says how to install it."""
import os
import subprocess
import sys

import pytest

from ctxseg.data.datasets.cityscapes import CITYSCAPES_CLASSES, CITYSCAPES_COLORS, CITYSCAPES_LABEL_IDS

from .conftest import ROOT


def test_cityscapes_table_is_cityscapesscripts_one():
    labels = pytest.importorskip("cityscapesscripts.helpers.labels")
    assert CITYSCAPES_CLASSES == [labels.trainId2label[i].name for i in range(19)]
    assert CITYSCAPES_COLORS == [list(labels.trainId2label[i].color) for i in range(19)]
    assert CITYSCAPES_LABEL_IDS == [labels.trainId2label[i].id for i in range(19)]


@pytest.mark.slow
def test_without_cityscapesscripts_only_the_preparation_needs_it(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['cityscapesscripts'] = None  # as if it were not installed\n"
        "import ctxseg\n"
        "from detectron2.data import MetadataCatalog\n"
        "from ctxseg.evaluation.submission import submission_label\n"
        "assert MetadataCatalog.get('cityscapes_fine_sem_seg_val').stuff_classes[0] == 'road'\n"
        "from ctxseg_cli.prepare_cityscapes import main\n"
        f"sys.exit(main(['--root', {str(tmp_path)!r}]))\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = ROOT
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
    assert result.returncode == 2, result.stderr
    assert "error: preparing Cityscapes needs the 'cityscapesscripts' package, which is not installed: " \
           "pip install 'ctxseg[cityscapes]'" in result.stderr
    assert "Traceback" not in result.stderr
