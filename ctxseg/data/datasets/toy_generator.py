"""The built-in toy datasets' generator: textured objects whose classes cannot be told apart by colour.

Two kinds. ``"texture"`` (``toy``): the class of an object is its texture, which a model reads from the
pixel's neighbourhood. ``"context"`` (``toy_context``): every object is drawn the same way whatever its
class; the class is set by a marker disk elsewhere in the image (horizontal stripes: "A", vertical: "B"),
at least ``CONTEXT_MIN_GAP`` pixels away from every object pixel, so only a model that relates distant
parts of the image can tell "object A" from "object B" (see :func:`make_context_sample`).

Writes, deterministically, in ADE20K's raw layout::

    OUT/images/{training,validation}/toy_NNNNN.png        RGB, lossless
    OUT/annotations/{training,validation}/toy_NNNNN.png   uint8: 0 unlabelled (a one-pixel band
                                                          along each object's edge), 1 background,
                                                          2..7 the object classes (context:
                                                          2, 3 markers A, B; 4, 5 objects A, B)
    OUT/toy_dataset.json                                  the parameters of the run

Every object and the background get random colours, so a pixel's colour says nothing about its
class: the 6 object classes differ by texture (drawn with two random colours of clearly different
luminance, at a random phase), which a model must read from the pixel's neighbourhood. The class
order matches ``TOY_CLASSES`` (``TOY_CONTEXT_CLASSES``) in ``ctxseg/data/datasets/toy.py``.

The run writes into a temporary folder next to OUT and renames it at the end, so an interrupted
run leaves no half-written OUT. Running again with the same parameters does nothing. The parameter
file also marks OUT as made by this generator: only such a folder is ever replaced.
"""
import json
import multiprocessing
import os
import shutil

import cv2
import numpy as np
from tqdm import tqdm

from ...utils.errors import DataError

__all__ = ["TEXTURES", "UNLABELLED", "BACKGROUND", "SPLITS", "PARAMS_FILE", "KINDS", "CONTEXT_MARKER_TEXTURES",
           "CONTEXT_OBJECT_TEXTURES", "CONTEXT_MARKER_LABELS", "CONTEXT_OBJECT_LABELS", "CONTEXT_MIN_GAP",
           "make_sample", "make_context_sample", "sample_rng", "generate"]

# TEXTURES[i] is stored as label i + 2; 0 is the unlabelled band and 1 the background.
TEXTURES = (
    "horizontal stripes",
    "vertical stripes",
    "diagonal stripes",
    "checkerboard",
    "dots",
    "grid",
)
UNLABELLED, BACKGROUND = 0, 1
SPLITS = ("training", "validation")
KINDS = ("texture", "context")

# The context toy: a marker's texture (A, B) sets the class of every object of the image; the objects'
# textures are drawn from the other four, whatever the marker, so an object's own pixels say nothing.
CONTEXT_MARKER_TEXTURES = ("horizontal stripes", "vertical stripes")
CONTEXT_OBJECT_TEXTURES = ("diagonal stripes", "checkerboard", "dots", "grid")
CONTEXT_MARKER_LABELS = (2, 3)
CONTEXT_OBJECT_LABELS = (4, 5)
# Euclidean distance from every object pixel to the marker: larger than the half-width (33 px) of the
# receptive field of the small-receptive-field baseline (ResNet-18 stem + res2 under a one-level Semantic
# FPN, 67 px with the final upsampling) even along a diagonal (56 / sqrt(2) = 39.6).
CONTEXT_MIN_GAP = 56
PARAMS_FILE = "toy_dataset.json"
GENERATOR_VERSION = 1

_MIN_LUMINANCE_GAP = 80
_NOISE = 8  # background noise: uniform integers in [-8, 8]
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def _luminance(colors):
    return colors @ np.array([0.299, 0.587, 0.114])


def _two_colors(rng):
    """A dark and a bright random colour whose luminances differ by at least the gap."""
    while True:
        pairs = rng.integers(0, 256, size=(16, 2, 3)).astype(np.float64)
        gap = _luminance(pairs[:, 1]) - _luminance(pairs[:, 0])
        good = np.flatnonzero(np.abs(gap) >= _MIN_LUMINANCE_GAP)
        if len(good):
            dark, bright = pairs[good[0]]
            return (dark, bright) if gap[good[0]] > 0 else (bright, dark)


def _texture_pattern(rng, texture, yy, xx):
    """Boolean pattern (True = bright colour) of one texture on pixel coordinates yy, xx."""
    period = int(rng.integers(4, 9))
    py, px = rng.integers(0, period, size=2)
    y, x = yy + py, xx + px
    if texture == "horizontal stripes":
        return (y % period) < period / 2
    if texture == "vertical stripes":
        return (x % period) < period / 2
    if texture == "diagonal stripes":
        # Stripes along x + y (or x - y) are 1/sqrt(2) as wide: a longer period keeps them crisp.
        diagonal_period = int(round(period * 1.5))
        direction = 1 if rng.integers(2) else -1
        return ((x + direction * y) % diagonal_period) < diagonal_period / 2
    if texture == "checkerboard":
        cell = max(period // 2, 2)
        return ((y // cell + x // cell) % 2) == 1
    # Dots and grid need a little more room to stay visible.
    period = max(period, 5)
    y, x = y % period, x % period
    if texture == "dots":
        centre = (period - 1) / 2
        return (y - centre) ** 2 + (x - centre) ** 2 <= (0.3 * period) ** 2
    if texture == "grid":
        width = max(1, period // 3)
        return (y < width) | (x < width)
    raise ValueError(f"unknown texture {texture!r}")


def _random_shape(rng, h, w, radius_range=(0.18, 0.36)):
    """Boolean HxW mask of a random polygon or smooth blob (radius: a share of the shorter side); it may
    touch the border."""
    radius = rng.uniform(*radius_range) * min(h, w)
    cy, cx = rng.uniform(0.1, 0.9) * h, rng.uniform(0.1, 0.9) * w
    if rng.integers(2):
        # A star-shaped polygon; roughly even angles keep it from collapsing into a sliver.
        n = int(rng.integers(4, 9))
        steps = np.arange(n) + rng.uniform(-0.3, 0.3, n)
        angles = rng.uniform(0, 2 * np.pi) + steps * (2 * np.pi / n)
        radii = radius * rng.uniform(0.7, 1.3, n)
        x, y = radii * np.cos(angles), radii * np.sin(angles)
    else:
        # A blob: an ellipse of random orientation whose radius wobbles with a few harmonics,
        # drawn as a fine polygon (much cheaper than testing every pixel).
        angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        radii = np.full_like(angles, radius)
        for k in (2, 3, 4):
            radii += radius * rng.uniform(0, 0.15) * np.cos(k * angles + rng.uniform(0, 2 * np.pi))
        rotation, squash = rng.uniform(0, np.pi), rng.uniform(0.6, 1.0)
        u, v = radii * np.cos(angles), squash * radii * np.sin(angles)
        x = u * np.cos(rotation) - v * np.sin(rotation)
        y = u * np.sin(rotation) + v * np.cos(rotation)
    points = np.stack([cx + x, cy + y], axis=1)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask.astype(bool)


def _noisy_background(rng, h, w):
    background = rng.integers(0, 256, size=3).astype(np.int16)
    noise = rng.integers(-_NOISE, _NOISE + 1, size=(h, w, 3), dtype=np.int16)
    return np.clip(background + noise, 0, 255).astype(np.uint8)


def _paint(rng, image, mask, texture):
    """Draw ``texture`` in two random colours of clearly different luminance on ``image`` inside ``mask``."""
    dark, bright = _two_colors(rng)
    yy, xx = np.nonzero(mask)
    pattern = _texture_pattern(rng, texture, yy, xx)
    image[yy, xx] = np.where(pattern[:, None], bright, dark)


def _label_map(h, w, masks, classes):
    """Labels of objects drawn in order (later ones in front), each with a one-pixel unlabelled band."""
    owner = np.zeros((h, w), np.uint8)  # which object is visible at a pixel (0: none)
    for index, mask in enumerate(masks, start=1):
        owner[mask] = index
    label = np.full((h, w), BACKGROUND, np.uint8)
    for index, (mask, class_id) in enumerate(zip(masks, classes), start=1):
        visible = owner == index
        label[visible] = class_id
        # The band lies inside the object, on its own (visible) edge: one pixel wide.
        inner_edge = mask & ~cv2.erode(mask.astype(np.uint8), _CROSS).astype(bool)
        label[inner_edge & visible] = UNLABELLED
    return label


def make_sample(rng, h, w):
    """One (RGB uint8 HxWx3 image, uint8 HxW raw label) pair of the texture toy drawn from ``rng``."""
    image = _noisy_background(rng, h, w)
    masks, classes = [], []
    for _ in range(int(rng.integers(2, 6))):
        class_id = int(rng.integers(2, 2 + len(TEXTURES)))
        mask = _random_shape(rng, h, w)
        _paint(rng, image, mask, TEXTURES[class_id - 2])
        masks.append(mask)
        classes.append(class_id)
    return image, _label_map(h, w, masks, classes)


def make_context_sample(rng, h, w, marker=None):
    """One (image, raw label) pair of the context toy: a marker disk near the left or right edge and one to
    three objects at least ``CONTEXT_MIN_GAP`` pixels from it, all labelled "A" or "B" as the marker.

    ``marker`` (0: A, 1: B) replaces the drawn one. Every random draw is the same whatever the marker, so
    the two images of one ``rng`` state differ only inside the marker disk, and their labels only in the
    marker's and the objects' class: near an object, the two images are the same.
    """
    drawn = int(rng.integers(2))
    kind = drawn if marker is None else int(marker)
    image = _noisy_background(rng, h, w)
    radius = int(rng.integers(9, 13))
    offset = radius + int(rng.integers(max(w // 4 - 2 * radius, 1)))
    centre = (offset if rng.integers(2) == 0 else w - 1 - offset, int(rng.integers(radius, h - radius)))
    disk = np.zeros((h, w), np.uint8)
    cv2.circle(disk, centre, radius, 1, -1)
    disk = disk.astype(bool)
    _paint(rng, image, disk, CONTEXT_MARKER_TEXTURES[kind])
    far = cv2.distanceTransform((~disk).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE) >= CONTEXT_MIN_GAP

    masks = [disk]
    wanted = int(rng.integers(1, 4))
    for _ in range(40):  # rejection sampling of objects that keep their distance
        if len(masks) > wanted:
            break
        mask = _random_shape(rng, h, w, radius_range=(0.08, 0.15))
        if mask.sum() >= 50 and not (mask & ~far).any():
            _paint(rng, image, mask, CONTEXT_OBJECT_TEXTURES[int(rng.integers(len(CONTEXT_OBJECT_TEXTURES)))])
            masks.append(mask)
    classes = [CONTEXT_MARKER_LABELS[kind]] + [CONTEXT_OBJECT_LABELS[kind]] * (len(masks) - 1)
    return image, _label_map(h, w, masks, classes)


def sample_rng(seed, split, index):
    """The RNG of one sample: independent of how many samples the run makes."""
    return np.random.default_rng([seed, SPLITS.index(split), index])


def _write_png(path, array):
    if not cv2.imwrite(path, array, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise OSError(f"Could not write {path}")


def _write_sample(job):
    root, split, index, size, seed, kind = job
    sampler = make_context_sample if kind == "context" else make_sample
    image, label = sampler(sample_rng(seed, split, index), *size)
    name = f"toy_{index:05d}.png"
    _write_png(os.path.join(root, "images", split, name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    _write_png(os.path.join(root, "annotations", split, name), label)


def _write_all(root, counts, size, seed, kind, workers, progress):
    jobs = []
    for split, count in zip(SPLITS, counts):
        os.makedirs(os.path.join(root, "images", split))
        os.makedirs(os.path.join(root, "annotations", split))
        jobs.extend((root, split, index, size, seed, kind) for index in range(count))
    if workers <= 1:
        for job in jobs:
            _write_sample(job)
            progress.update(1)
        return
    # Every sample has its own RNG, so the files do not depend on the number of workers.
    with multiprocessing.Pool(workers) as pool:
        for _ in pool.imap_unordered(_write_sample, jobs, chunksize=16):
            progress.update(1)


def _read_params(path):
    """The parameters recorded in a toy dataset folder, or None if it has no valid parameter file."""
    try:
        with open(path) as f:
            params = json.load(f)
    except (OSError, ValueError):
        return None
    return params if isinstance(params, dict) and "generator_version" in params else None


def generate(out, train=1200, val=100, size=(128, 160), seed=0, overwrite=False, workers=1, kind="texture"):
    """Make the dataset of ``kind`` (``KINDS``) in ``out``; return False (and do nothing) if it is already there.

    ``overwrite`` replaces a toy dataset made with other parameters; a folder this generator did not
    make (no parameter file) is never replaced.
    """
    params = {
        "generator_version": GENERATOR_VERSION,
        "train": int(train),
        "val": int(val),
        "size": [int(size[0]), int(size[1])],
        "seed": int(seed),
    }
    if kind not in KINDS:
        raise DataError(f"unknown toy dataset kind {kind!r}; choose one of {KINDS}")
    if kind != "texture":  # texture toys made before the context kind existed stay valid
        params["kind"] = kind
    out = os.path.abspath(out)
    params_path = os.path.join(out, PARAMS_FILE)
    if os.path.exists(out) and not os.path.isdir(out):
        raise DataError(f"{out} exists and is not a folder")
    if os.path.isdir(out) and os.listdir(out):
        existing = _read_params(params_path)
        if existing == params:
            return False
        if existing is None:
            raise DataError(f"{out} is not empty and was not made by this generator (it has no valid {PARAMS_FILE}): "
                            "refusing to replace it, even with --overwrite; choose another --output")
        if not overwrite:
            raise DataError(f"{out} holds a toy dataset made with other parameters (found {existing}, asked "
                            f"{params}); remove it, choose another --output, or pass --overwrite")

    parent, name = os.path.split(out)
    os.makedirs(parent, exist_ok=True)
    partial = os.path.join(parent, f".{name}.partial-{os.getpid()}")
    old = os.path.join(parent, f".{name}.old-{os.getpid()}")
    try:
        os.makedirs(partial)
        with tqdm(total=train + val, desc=f"toy dataset -> {out}", unit="img") as progress:
            _write_all(partial, (train, val), tuple(size), seed, kind, workers, progress)
        with open(os.path.join(partial, PARAMS_FILE), "w") as f:
            json.dump(params, f, indent=2)
        if os.path.exists(out):
            os.rename(out, old)
        os.rename(partial, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        # Also on KeyboardInterrupt: nothing half-written stays behind.
        shutil.rmtree(partial, ignore_errors=True)
    return True
