"""tools/demo.py: pictures with a legend, label maps, names that never collide, literal --gt, large photos."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import ctxseg
from ctxseg.visualization import PANEL_GAP
from ctxseg_cli import demo

from .conftest import ROOT
from .conftest import TINY_TOY_CONFIG as CONFIG


@pytest.fixture(scope="module")
def toy(toy_root):
    return Path(toy_root)


@pytest.fixture
def in_toy(toy, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(toy))
    return toy / "toy"


@pytest.fixture
def run_demo(tiny_checkpoint):
    """The demo's main() with the tiny toy config and weights."""
    return lambda *args: demo.main(["--config-file", CONFIG, *args, f"train.init_checkpoint={tiny_checkpoint}"])


@pytest.mark.slow
def test_pictures_with_ground_truth_and_legend(in_toy, run_demo, tmp_path):
    images = in_toy / "images" / "validation"
    assert run_demo("--input", str(images / "*.png"), "--with-gt", "--output", str(tmp_path / "out")) == 0
    written = sorted(os.listdir(tmp_path / "out"))
    assert written == sorted(os.listdir(images))
    picture = cv2.imread(str(tmp_path / "out" / written[0]))[:, :, ::-1]
    # 64x80 images are drawn 6x larger (long side at least 512): input | prediction | ground truth | legend
    assert picture.shape[0] == 6 * 64 and picture.shape[1] > 3 * (6 * 80 + PANEL_GAP)
    original = np.asarray(Image.open(images / written[0]).convert("RGB"))
    np.testing.assert_array_equal(picture[:, :480], np.repeat(np.repeat(original, 6, axis=0), 6, axis=1))
    assert (picture[:, 480:480 + PANEL_GAP] == 255).all()
    legend = picture[:, 3 * (480 + PANEL_GAP):]
    assert legend.shape[1] > 60 and (legend[:8] == 255).all()  # a white panel with entries below its margin


@pytest.mark.slow
def test_label_maps_and_probabilities(in_toy, run_demo, tiny_checkpoint, tmp_path):
    image = in_toy / "images" / "validation" / "toy_00001.png"
    out = tmp_path / "out"
    assert run_demo("--input", str(image), "--save-labels", "--save-probabilities", "--no-pictures",
                    "--output", str(out)) == 0
    assert sorted(os.listdir(out)) == ["labels", "probabilities"]
    labels = Image.open(out / "labels" / "toy_00001.png")
    assert labels.mode == "L" and labels.size == (80, 64)
    expected = ctxseg.Predictor(CONFIG, tiny_checkpoint)(str(image)).labels
    np.testing.assert_array_equal(np.asarray(labels), expected)
    probabilities = np.load(out / "probabilities" / "toy_00001.npy")
    assert probabilities.shape == (7, 64, 80) and probabilities.dtype == np.float32
    np.testing.assert_array_equal(probabilities.argmax(0), expected)


def test_label_maps_beyond_255_classes_are_16_bit(tmp_path):
    labels = np.array([[0, 300], [65000, 7]], dtype=ctxseg.inference.label_dtype(301))
    demo._write_png(str(tmp_path / "l.png"), labels)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "l.png")), labels)


@pytest.mark.slow
def test_inputs_with_the_same_name_in_different_folders(in_toy, run_demo, tiny_checkpoint, tmp_path):
    validation = in_toy / "images" / "validation"
    for folder, source in (("a", "toy_00000.png"), ("b", "toy_00002.png")):
        (tmp_path / "in" / folder).mkdir(parents=True)
        shutil.copy(validation / source, tmp_path / "in" / folder / "x.png")
    shutil.copy(validation / "toy_00001.png", tmp_path / "in" / "a" / "x.jpg.png")
    inputs = [str(tmp_path / "in" / "a" / "x.png"), str(tmp_path / "in" / "b" / "x.png")]
    assert run_demo("--input", *inputs, str(tmp_path / "in" / "a"), "--save-labels", "--output",
                    str(tmp_path / "out")) == 0
    for folder, source in (("a", "toy_00000.png"), ("b", "toy_00002.png")):
        assert (tmp_path / "out" / folder / "x.png").is_file()
        expected = ctxseg.Predictor(CONFIG, tiny_checkpoint)(str(validation / source)).labels
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "labels" / folder / "x.png")), expected)
    assert demo.output_names(["p/x.png", "p/x.jpg", "q/y.png"])[1] == ["p/x.png", "p/x.jpg", "q/y"]


def test_ground_truth_files_are_matched_literally(in_toy, run_demo, tiny_checkpoint, tmp_path):
    source = in_toy / "images" / "validation" / "toy_00000.png"
    (tmp_path / "in").mkdir()
    (tmp_path / "gt").mkdir()
    shutil.copy(source, tmp_path / "in" / "img[1].png")
    Image.fromarray(np.full((64, 80), 3, np.uint8)).save(tmp_path / "gt" / "img[1].png")
    # What the pattern img[1].* matches: a label with values no class has, which the mapper would refuse.
    Image.fromarray(np.full((64, 80), 200, np.uint8)).save(tmp_path / "gt" / "img1.png")
    assert demo.find_label_file(str(tmp_path / "gt"), "img[1]") == str(tmp_path / "gt" / "img[1].png")
    with pytest.raises(ctxseg.utils.errors.DataError, match=r"no label file named img\[2\]\.\*"):
        demo.find_label_file(str(tmp_path / "gt"), "img[2]")
    assert run_demo("--input", str(tmp_path / "in"), "--gt", str(tmp_path / "gt"), "--output",
                    str(tmp_path / "out")) == 0
    picture = cv2.imread(str(tmp_path / "out" / "img[1].png"))[:, :, ::-1]
    ground_truth_panel = picture[:, 2 * (480 + PANEL_GAP):3 * 480 + 2 * PANEL_GAP].astype(int)
    shown = np.repeat(np.repeat(np.asarray(Image.open(source).convert("RGB")), 6, axis=0), 6, axis=1).astype(int)
    yellow = np.array(ctxseg.Predictor(CONFIG, tiny_checkpoint).palette[3])  # class 3 drawn over the whole panel
    np.testing.assert_allclose(ground_truth_panel, 0.4 * shown + 0.6 * yellow, atol=1)


def test_input_errors_are_reported(in_toy, run_demo, tmp_path, capsys):
    assert run_demo("--input", str(tmp_path / "none*.jpg"), "--output", str(tmp_path / "c")) == 2
    assert "no such file, folder or matching files" in capsys.readouterr().err
    image = in_toy / "images" / "validation" / "toy_00000.png"
    assert run_demo("--input", str(image), "--gt", str(tmp_path / "nowhere"), "--output", str(tmp_path / "c")) == 2
    assert "no label file named toy_00000.*" in capsys.readouterr().err
    assert run_demo("--input", str(image), "--no-pictures", "--output", str(tmp_path / "c")) == 2
    assert not (tmp_path / "c").exists()


def test_a_damaged_image_is_skipped_and_reported(in_toy, tiny_checkpoint, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "broken.png").write_text("not an image")
    shutil.copy(in_toy / "images" / "validation" / "toy_00000.png", tmp_path / "in" / "good.png")
    # The override stands before the options: it is still an override, not an input.
    assert demo.main(["--config-file", CONFIG, f"train.init_checkpoint={tiny_checkpoint}", "--input",
                      str(tmp_path / "in"), "--output", str(tmp_path / "out")]) == 1
    assert (tmp_path / "out" / "good.png").is_file() and not (tmp_path / "out" / "broken.png").exists()
    assert f"1 of 2 inputs could not be read as images: {tmp_path / 'in' / 'broken.png'}" in capsys.readouterr().err


def test_an_output_that_is_a_file_is_refused(in_toy, run_demo, tmp_path, capsys):
    (tmp_path / "out.png").write_text("")
    image = in_toy / "images" / "validation" / "toy_00000.png"
    assert run_demo("--input", str(image), "--output", str(tmp_path / "out.png")) == 2
    assert "is a file; give a folder" in capsys.readouterr().err


# Address space (RLIMIT_AS) allowed to the demo of an 8000x8000 photo: importing torch and Detectron2 alone
# reserves about 4 GB of it (their resident memory is under 1 GB); the old demo needed 7.4 GB resident.
MEMORY_LIMIT_GB = 6


@pytest.mark.slow
def test_an_8000x8000_photo_runs_in_a_few_gigabytes(tmp_path):
    rng = np.random.default_rng(0)
    photo = cv2.resize(rng.integers(0, 256, (100, 100, 3)).astype(np.uint8), (8000, 8000))
    cv2.imwrite(str(tmp_path / "photo.jpg"), photo, [cv2.IMWRITE_JPEG_QUALITY, 80])
    del photo
    code = (
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT_GB} << 30, {MEMORY_LIMIT_GB} << 30))\n"
        "from ctxseg_cli.demo import main\n"
        f"status = main(['--config-file', {CONFIG!r}, '--input', {str(tmp_path / 'photo.jpg')!r}, '--save-labels',\n"
        f"               '--output', {str(tmp_path / 'out')!r}])\n"
        "print('peak-rss-kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
        "sys.exit(status)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=ROOT))
    assert result.returncode == 0, result.stderr[-3000:]
    peak_gb = int(result.stdout.split("peak-rss-kb")[1].split()[0]) / 2 ** 20
    print(f"8000x8000 demo: peak RSS {peak_gb:.2f} GB under RLIMIT_AS {MEMORY_LIMIT_GB} GB")
    labels = Image.open(tmp_path / "out" / "labels" / "photo.png")
    assert labels.size == (8000, 8000)
    picture = Image.open(tmp_path / "out" / "photo.png")
    assert picture.size[1] == 1600  # drawn downscaled
