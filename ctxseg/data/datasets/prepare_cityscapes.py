"""Prepare Cityscapes: polygon JSONs -> ``*_labelTrainIds.png`` (19 trainIds, 255 ignore) with cityscapesscripts.

``ctxseg-prepare-cityscapes`` (``tools/prepare_cityscapes.py``) runs :func:`prepare` from the command line.

Fine: ``gtFine/{train,val,test}/<city>/*_gtFine_polygons.json`` -> ``*_gtFine_labelTrainIds.png``
(``cityscapes_fine_sem_seg_*``). With ``--coarse``: ``gtCoarse/train_extra/<city>/*_gtCoarse_polygons.json``
-> ``*_gtCoarse_labelTrainIds.png`` (``cityscapes_coarse_sem_seg_train_extra``, IIWA's coarse stage).
Idempotent (up-to-date outputs skipped, unchanged bytes never rewritten), atomic per file.
"""
import io
import os

from ...utils.optional import import_optional
from .cityscapes import cityscapes_root
from .preparation import (PreparationError, check_count, checked_outputs, is_up_to_date, run_tasks, summarize,
                          write_if_changed)

# This module is imported only to prepare Cityscapes, which needs cityscapesscripts (the [cityscapes] extra).
_PURPOSE = "preparing Cityscapes"
Annotation = import_optional("cityscapesscripts.helpers.annotation", "cityscapes", _PURPOSE).Annotation
name2label = import_optional("cityscapesscripts.helpers.labels", "cityscapes", _PURPOSE).name2label
createLabelImage = import_optional("cityscapesscripts.preparation.json2labelImg", "cityscapes",
                                   _PURPOSE).createLabelImage

# (annotation folder, split) -> official number of polygon files
EXPECTED = {("gtFine", "train"): 2975, ("gtFine", "val"): 500, ("gtFine", "test"): 1525,
            ("gtCoarse", "train_extra"): 19998}


def _known(label):
    # cityscapesscripts' own rule: "cargroup" is drawn as "car".
    return label in name2label or (label.endswith("group") and label[: -len("group")] in name2label)


def polygons_to_train_ids(json_file):
    """Draw the polygons of one Cityscapes JSON as a trainId label image (PIL "L"); errors name the file."""
    if not os.path.isfile(json_file):
        raise PreparationError(f"Missing input file: {json_file}")
    annotation = Annotation()
    try:
        annotation.fromJsonFile(json_file)
    except (ValueError, KeyError, TypeError) as e:
        raise PreparationError(f"Cannot read {json_file} (truncated or not a Cityscapes polygon file?): "
                               f"{type(e).__name__}: {e}") from e
    unknown = sorted({obj.label for obj in annotation.objects if not obj.deleted and not _known(obj.label)})
    if unknown:
        # cityscapesscripts would exit the process on these.
        raise PreparationError(f"{json_file}: unknown Cityscapes labels {unknown}")
    return createLabelImage(annotation, "trainIds")


def convert_one(task):
    """Convert one polygon JSON (source, output) -> (status, output)."""
    source, output = task
    if is_up_to_date(output, [source]):
        return "up-to-date", output
    buffer = io.BytesIO()
    polygons_to_train_ids(source).save(buffer, format="PNG")
    changed = write_if_changed(output, buffer.getvalue())
    return ("written" if changed else "unchanged"), output


def list_tasks(root, annotations, split, allow_partial):
    """The (polygon JSON, labelTrainIds PNG) pairs of one folder, after checking it and its count."""
    folder = os.path.join(root, annotations, split)
    if not os.path.isdir(folder):
        package = "gtFine_trainvaltest.zip" if annotations == "gtFine" else "gtCoarse.zip"
        raise PreparationError(f"Missing folder {folder}: download {package} from the Cityscapes website and "
                               f"extract it in {root}")
    suffix = f"_{annotations}_polygons.json"
    sources = []
    for city in sorted(os.listdir(folder)):
        city_dir = os.path.join(folder, city)
        if os.path.isdir(city_dir):
            sources += [os.path.join(city_dir, f) for f in sorted(os.listdir(city_dir)) if f.endswith(suffix)]
    check_count(f"{folder} (*{suffix})", len(sources), EXPECTED.get((annotations, split)), allow_partial)
    outputs = checked_outputs(root, [s[: -len(suffix)] + f"_{annotations}_labelTrainIds.png" for s in sources])
    return list(zip(sources, outputs))


def prepare(root=None, workers=1, allow_partial=False, coarse=False):
    """Convert the fine (and, with ``coarse``, the coarse) polygons under ``root`` (default ``$DETECTRON2_DATASETS/cityscapes``).

    Returns 0, or 1 if a file failed (each failure is printed). A missing folder or a wrong file count
    raises ``PreparationError`` before anything is written.
    """
    root = root or cityscapes_root()
    folders = [("gtFine", s) for s in ("train", "val", "test")] + ([("gtCoarse", "train_extra")] if coarse else [])
    jobs = [(a, s, list_tasks(root, a, s, allow_partial)) for a, s in folders]
    status = 0
    for annotations, split, tasks in jobs:
        results = run_tasks(convert_one, tasks, workers, desc=f"Cityscapes {annotations}/{split}")
        status |= summarize(os.path.join(root, annotations, split), results)
    return status
