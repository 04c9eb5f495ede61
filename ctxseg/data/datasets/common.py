"""Plumbing shared by the catalog entries: list image/label pairs, register, look up by name.

An image without its label, or a label without its image, usually means an interrupted download or
preparation: loading such a dataset is an error naming the first unmatched files and their count.
``get_dataset_dicts(name, allow_partial=True)`` (in a config: ``dataloader.train.dataset.allow_partial=True``)
loads the matched pairs instead, with a warning that says how many files were left out.
"""
import contextlib
import contextvars
import logging
import os

from detectron2.data import DatasetCatalog, MetadataCatalog
from omegaconf import OmegaConf

from ...utils.errors import DataError

__all__ = [
    "datasets_root",
    "load_sem_seg_pairs",
    "register_sem_seg_dataset",
    "update_dataset_roots",
    "get_dataset_dicts",
    "registered_ctxseg_datasets",
    "UnknownDatasetError",
    "check_dataset_names",
    "MissingDataError",
    "match_or_report",
]

_CTXSEG_DATASETS = []
_ALLOW_PARTIAL = contextvars.ContextVar("ctxseg_allow_partial_datasets", default=False)
logger = logging.getLogger(__name__)


class MissingDataError(DataError, FileNotFoundError):
    """A dataset folder or file that is not there (or only partly)."""


@contextlib.contextmanager
def _partial_datasets_allowed(allowed):
    token = _ALLOW_PARTIAL.set(bool(allowed))
    try:
        yield
    finally:
        _ALLOW_PARTIAL.reset(token)


def match_or_report(what, unmatched, total, hint=""):
    """Stop on ``unmatched`` files (a ``MissingDataError`` naming the first ones), or warn when partial loads are allowed.

    ``what`` says what they lack, e.g. "images under X have no label file"; ``total`` is what they are out of.
    """
    if not unmatched:
        return
    shown = ", ".join(str(u) for u in unmatched[:3]) + (", ..." if len(unmatched) > 3 else "")
    message = f"{len(unmatched)} of {total} {what} (expected {shown})."
    if not _ALLOW_PARTIAL.get():
        raise MissingDataError(f"{message}{hint} To load the complete pairs only, set allow_partial=True "
                               "(dataloader.<split>.dataset.allow_partial=True in a config).")
    logger.warning("%s Loading the complete pairs only (allow_partial).", message)


def datasets_root():
    """The folder holding every dataset: $DETECTRON2_DATASETS, read now (default "datasets")."""
    return os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))


def _missing_folder_message(kind, folder, prepare_hint):
    message = f"The {kind} folder {folder} does not exist."
    if prepare_hint:
        message += f" Prepare it with: {prepare_hint}."
    env = os.getenv("DETECTRON2_DATASETS")
    where = f"DETECTRON2_DATASETS={env}" if env is not None else "DETECTRON2_DATASETS is not set"
    return message + f" Dataset roots come from $DETECTRON2_DATASETS ({where}; default 'datasets')."


def _find_files(folder, ext):
    found = []
    for root, _, names in os.walk(folder):
        found.extend(os.path.join(root, name) for name in names if name.endswith(ext))
    return sorted(found)


def load_sem_seg_pairs(
    image_dir, label_dir, image_ext, label_ext, reduce_zero_label=False, prepare_hint=None
):
    """List (image, label) pairs as sorted Detectron2 dataset dicts.

    Images are found recursively under ``image_dir`` by the suffix ``image_ext`` (".jpg", or a
    longer suffix such as "_leftImg8bit.png"); the label of ``image_dir/a/b<image_ext>`` is
    ``label_dir/a/b<label_ext>``. Each dict has "file_name", "sem_seg_file_name" and
    "reduce_zero_label" (read by ``SemSegDatasetMapper``). With ``label_dir`` None (a test set
    without public labels) the dicts have only "file_name".

    Args:
        prepare_hint: the command that makes the folders, quoted when one is missing.
    """
    for kind, folder in (("image", image_dir), ("label", label_dir)):
        if folder is not None and not os.path.isdir(folder):
            raise MissingDataError(_missing_folder_message(kind, folder, prepare_hint))
    image_files = _find_files(image_dir, image_ext)
    if not image_files:
        hint = f" Prepare it with: {prepare_hint}." if prepare_hint else ""
        raise MissingDataError(f"No '*{image_ext}' image found under {image_dir}.{hint}")

    if label_dir is None:
        return [{"file_name": image_file} for image_file in image_files]
    image_stems = {os.path.relpath(f, image_dir)[: -len(image_ext)]: f for f in image_files}
    label_stems = {os.path.relpath(f, label_dir)[: -len(label_ext)]: f for f in _find_files(label_dir, label_ext)}
    hint = f" Prepare the labels with: {prepare_hint}." if prepare_hint else ""
    match_or_report(f"images under {image_dir} have no label file",
                    [os.path.join(label_dir, s + label_ext) for s in image_stems if s not in label_stems],
                    len(image_stems), hint)
    match_or_report(f"label files under {label_dir} have no image",
                    [os.path.join(image_dir, s + image_ext) for s in label_stems if s not in image_stems],
                    len(label_stems))
    return [{"file_name": image_stems[stem], "sem_seg_file_name": label_stems[stem],
             "reduce_zero_label": reduce_zero_label}
            for stem in sorted(image_stems) if stem in label_stems]


def register_sem_seg_dataset(name, loader_fn, **metadata):
    """Register ``loader_fn`` (no argument -> list of dicts) and its metadata under ``name``.

    ``evaluator_type`` is set to "sem_seg". Registering a name again (a reloaded module)
    replaces the previous entry.
    """
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    DatasetCatalog.register(name, loader_fn)
    MetadataCatalog.get(name).set(evaluator_type="sem_seg", **metadata)
    if name not in _CTXSEG_DATASETS:
        _CTXSEG_DATASETS.append(name)


def update_dataset_roots(name, **roots):
    """Set path metadata (image_root, sem_seg_root, ...) of ``name`` to the roots of this load."""
    metadata = MetadataCatalog.get(name)
    for key, value in roots.items():
        # Metadata refuses to change a key, but roots follow $DETECTRON2_DATASETS, which may
        # change between registration (import) and loading.
        metadata.__dict__[key] = value


def registered_ctxseg_datasets():
    """Names of the datasets ctxseg registered, in registration order."""
    return list(_CTXSEG_DATASETS)


class UnknownDatasetError(DataError, KeyError):
    """A dataset name that is not in Detectron2's DatasetCatalog."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


def _unknown_dataset_message(name):
    return (f"Unknown dataset '{name}'. Datasets registered by ctxseg: "
            f"{', '.join(registered_ctxseg_datasets()) or 'none'} "
            "(import ctxseg to register them; other names must be registered with "
            "Detectron2's DatasetCatalog).")


def get_dataset_dicts(name, allow_partial=False):
    """Load the dataset dicts of ``name``; an unknown name lists the datasets ctxseg provides.

    With ``allow_partial``, images without labels and labels without images are left out with a
    warning instead of stopping the load.
    """
    if name not in DatasetCatalog.list():
        raise UnknownDatasetError(_unknown_dataset_message(name))
    with _partial_datasets_allowed(allow_partial):
        return DatasetCatalog.get(name)


def check_dataset_names(cfg, splits=("train", "test")):
    """Raise ``UnknownDatasetError`` if ``dataloader.<split>.dataset.name`` of a config names no dataset.

    Checked before any process starts or any model is built, so a typo costs nothing. Configs whose
    loaders take their dataset another way are not checked.
    """
    for split in splits:
        name = OmegaConf.select(cfg, f"dataloader.{split}.dataset.name", default=None)
        if isinstance(name, str) and name not in DatasetCatalog.list():
            raise UnknownDatasetError(f"dataloader.{split}.dataset.name: " + _unknown_dataset_message(name))
