"""Small on-disk fixture trees in the real layouts of ADE20K, Cityscapes and Pascal Context (for the dataset tests)."""
import json
import os

import numpy as np
import scipy.io
from PIL import Image
from pycocotools import mask as mask_utils

H, W = 48, 64


def _image(path, seed, size=(H, W)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = np.random.RandomState(seed)
    Image.fromarray(rng.randint(0, 256, size + (3,), dtype=np.uint8)).save(path)


def ade_label(i):
    """Raw ADE label i: 0 (unlabelled) band, 1, 150 and i + 5 in blocks."""
    label = np.zeros((H, W), np.uint8)
    label[:, 2:20] = 1
    label[:, 20:40] = 150
    label[:, 40:] = 5 + i
    return label


def make_ade(root, n=(2, 2)):
    """ADEChallengeData2016 with raw annotations; returns its folder."""
    base = os.path.join(root, "ADEChallengeData2016")
    for split, count in zip(("training", "validation"), n):
        for i in range(count):
            stem = f"ADE_{split[:5]}_{i:08d}"
            _image(os.path.join(base, "images", split, stem + ".jpg"), i)
            path = os.path.join(base, "annotations", split, stem + ".png")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            Image.fromarray(ade_label(i)).save(path)
    return base


def cityscapes_polygons():
    """Objects of every fixture JSON: sky rows 0..9, road rows 30..47, a car group, an ego vehicle (ignored)."""
    return [
        {"label": "sky", "polygon": [[0, 0], [W - 1, 0], [W - 1, 9], [0, 9]]},
        {"label": "road", "polygon": [[0, 30], [W - 1, 30], [W - 1, H - 1], [0, H - 1]]},
        {"label": "cargroup", "polygon": [[10, 34], [30, 34], [30, 44], [10, 44]]},
        {"label": "ego vehicle", "polygon": [[40, 40], [60, 40], [60, 47], [40, 47]]},
        {"label": "person", "polygon": [[50, 12], [55, 12], [55, 20], [50, 20]], "deleted": 1},
    ]


def make_cityscapes(root):
    """cityscapes/ with leftImg8bit + gtFine polygons (train 2, val 1, test 1) and gtCoarse train_extra (1)."""
    base = os.path.join(root, "cityscapes")
    splits = [("gtFine", "train", 2), ("gtFine", "val", 1), ("gtFine", "test", 1), ("gtCoarse", "train_extra", 1)]
    for annotations, split, count in splits:
        for i in range(count):
            stem = f"aachen_{i:06d}_000019"
            _image(os.path.join(base, "leftImg8bit", split, "aachen", stem + "_leftImg8bit.png"), i)
            path = os.path.join(base, annotations, split, "aachen", f"{stem}_{annotations}_polygons.json")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                json.dump({"imgHeight": H, "imgWidth": W, "objects": cityscapes_polygons()}, f)
    return base


def context459_label(i):
    """A 1-based 459-class map: background 0, aeroplane 2, wool 459 (not in the 59), wood 458, person 284."""
    label = np.zeros((H, W), np.uint16)
    label[:10] = 2
    label[10:20] = 459
    label[20:30, :32] = 458
    label[30:, 20:] = 284
    label[0, 0] = 1 + i  # accordion (1), aeroplane (2), air conditioner (3)
    return label


def make_pascal_context(root, phases=("train", "train", "val")):
    """VOCdevkit/VOC2010 with JPEGImages, trainval_merged.json (RLEs) and trainval/*.mat; returns the folder."""
    base = os.path.join(root, "VOCdevkit", "VOC2010")
    images, annotations = [], []
    for i, phase in enumerate(phases):
        stem = f"2008_{i:06d}"
        _image(os.path.join(base, "JPEGImages", stem + ".jpg"), i)
        label = context459_label(i)
        images.append({"image_id": i + 100, "file_name": stem + ".jpg", "phase": phase, "height": H, "width": W})
        for category in np.unique(label):
            if category == 0:
                continue
            rle = mask_utils.encode(np.asfortranarray((label == category).astype(np.uint8)))
            rle["counts"] = rle["counts"].decode("ascii")
            annotations.append({"image_id": i + 100, "category_id": int(category), "segmentation": rle})
        os.makedirs(os.path.join(base, "trainval"), exist_ok=True)
        scipy.io.savemat(os.path.join(base, "trainval", stem + ".mat"), {"LabelMap": label})
    with open(os.path.join(base, "trainval_merged.json"), "w") as f:
        json.dump({"images": images, "annos_segmentation": annotations}, f)
    return base


def snapshot(folder):
    """{relative path: (mtime_ns, bytes)} of every file under ``folder``."""
    result = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                result[os.path.relpath(path, folder)] = (os.stat(path).st_mtime_ns, f.read())
    return result
