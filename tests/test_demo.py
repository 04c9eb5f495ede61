"""tools/demo.py: pictures side by side with the input (and the ground truth), clear input errors."""
import os
import subprocess
import sys

from pathlib import Path

import cv2
import pytest

from .conftest import ROOT
from .conftest import TINY_TOY_CONFIG as CONFIG


@pytest.fixture(scope="module")
def toy(toy_root):
    return Path(toy_root)


def run_demo(toy, *args):
    env = dict(os.environ, DETECTRON2_DATASETS=str(toy))
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "demo.py"), "--config-file", CONFIG, *args],
                          capture_output=True, text=True, env=env, cwd=ROOT)


def test_pictures_with_ground_truth(toy, tmp_path):
    images = toy / "toy" / "images" / "validation"
    result = run_demo(toy, "--input", str(images / "*.png"), "--with-gt", "--output", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    written = sorted(os.listdir(tmp_path / "out"))
    assert written == sorted(os.listdir(images))
    picture = cv2.imread(str(tmp_path / "out" / written[0]))
    assert picture.shape == (64, 3 * 80, 3)  # input | prediction | ground truth
    original = cv2.imread(str(images / written[0]))
    assert (picture[:, :80] == original).all()


def test_pictures_without_ground_truth_and_gt_folder(toy, tmp_path):
    image = toy / "toy" / "images" / "validation" / "toy_00000.png"
    result = run_demo(toy, "--input", str(image), "--output", str(tmp_path / "a"))
    assert result.returncode == 0, result.stderr
    assert cv2.imread(str(tmp_path / "a" / "toy_00000.png")).shape == (64, 2 * 80, 3)
    result = run_demo(toy, "--input", str(image), "--gt", str(tmp_path / "nowhere"), "--output", str(tmp_path / "b"))
    assert result.returncode != 0 and "no label file named toy_00000" in result.stderr


def test_missing_input_is_reported(toy, tmp_path):
    result = run_demo(toy, "--input", str(tmp_path / "none*.jpg"), "--output", str(tmp_path / "c"))
    assert result.returncode != 0
    assert "no such file, folder or matching files" in result.stderr
    assert not (tmp_path / "c").exists()
