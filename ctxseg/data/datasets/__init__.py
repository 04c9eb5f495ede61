"""Catalog entries: importing this module registers every dataset of ctxseg."""
from .common import (  # noqa: F401
    UnknownDatasetError,
    check_dataset_names,
    get_dataset_dicts,
    load_sem_seg_pairs,
    register_sem_seg_dataset,
    registered_ctxseg_datasets,
)
from . import toy  # noqa: F401
from . import ade20k, cityscapes, pascal_context  # noqa: F401,E402
