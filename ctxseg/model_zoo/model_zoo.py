"""Find, load and build ctxseg's configs by name, in a checkout or an installed package.

Names are paths relative to a config tree, with ``/`` separators:

* ``<Project>/<rest>`` for ``projects/<Project>/configs/<rest>``: ``IIWA/ade20k/iiwa_swin_s_512x512_160k.py``,
  ``ContextCluster/ade20k/fpn_coc_small_4_512x512_80k.py``;
* ``<rest>`` for ``configs/<rest>``: ``toy/fpn_r18_toy.py``, ``toy/iiwa_swin_toy.yaml``, and the shared
  pieces ``common/...``.

An installed package carries both trees inside itself (``ctxseg/model_zoo/configs`` and
``ctxseg/model_zoo/projects/<Project>/configs``, in the checkout's layout, so that the project configs'
relative imports of ``configs/common`` still resolve); run from a checkout, the repository's own trees
are used. No trained weights are published yet.
"""
import difflib
import os
from typing import TYPE_CHECKING, List, Union

from ..utils.errors import CheckpointError, ConfigError

if TYPE_CHECKING:
    from detectron2.config import CfgNode
    from omegaconf import DictConfig
    from torch import nn

__all__ = ["get", "get_checkpoint_url", "get_config", "get_config_file", "list_configs"]

_CONFIG_SUFFIXES = (".py", ".yaml")


def _root() -> str:
    """The folder holding ``configs/`` and ``projects/``: this package when installed, else the checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    if os.path.isdir(os.path.join(here, "configs")):
        return here
    return os.path.dirname(os.path.dirname(here))


def _projects(root):
    projects_dir = os.path.join(root, "projects")
    if not os.path.isdir(projects_dir):
        return []
    return sorted(p for p in os.listdir(projects_dir) if os.path.isdir(os.path.join(projects_dir, p, "configs")))


def _trees(root):
    """(name prefix, folder) of every config tree."""
    trees = [(f"{project}/", os.path.join(root, "projects", project, "configs")) for project in _projects(root)]
    return trees + [("", os.path.join(root, "configs"))]


def _all_names(root):
    names = []
    for prefix, folder in _trees(root):
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(("_", ".")))
            for filename in sorted(filenames):
                if filename.endswith(_CONFIG_SUFFIXES) and not filename.startswith("_"):
                    relative = os.path.relpath(os.path.join(dirpath, filename), folder).replace(os.sep, "/")
                    names.append(prefix + relative)
    return names


def _is_listed(name):
    """A config to run: not a shared piece (``common/``) nor a base others build on (``base_*``, ``Base-*``)."""
    basename = name.rsplit("/", 1)[-1]
    return not name.startswith("common/") and not basename.startswith(("base_", "Base-"))


def list_configs() -> List[str]:
    """The names of the configs to run, sorted (shared pieces and bases are left out but load by name)."""
    return sorted(name for name in _all_names(_root()) if _is_listed(name))


def get_config_file(name: str) -> str:
    """The path of the config called ``name``; an unknown name is a ``ConfigError`` listing the closest ones."""
    root = _root()
    first, _, rest = name.partition("/")
    if first in _projects(root):
        path = os.path.join(root, "projects", first, "configs", *rest.split("/"))
    else:
        path = os.path.join(root, "configs", *name.split("/"))
    if name and ".." not in name.split("/") and os.path.isfile(path) and name.endswith(_CONFIG_SUFFIXES):
        return path
    names = _all_names(root)
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    basename = name.rsplit("/", 1)[-1]
    close += [n for n in names if n.rsplit("/", 1)[-1] == basename and n not in close]
    hint = f"; did you mean {', '.join(close)}?" if close else "; ctxseg.model_zoo.list_configs() lists them"
    raise ConfigError(f"no config named '{name}' in the model zoo{hint}")


def get_checkpoint_url(name: str) -> str:
    """The URL of the trained weights of config ``name``: none are published yet, so always a ``CheckpointError``."""
    get_config_file(name)  # an unknown name says so first
    raise CheckpointError(f"no trained weights are published for '{name}' (nor for any ctxseg config) yet; train "
                          f"the model with ctxseg-train, or start from converted official backbone weights "
                          f"(ctxseg-convert) with train.init_checkpoint")


def get_config(name: str, trained: bool = False) -> Union["DictConfig", "CfgNode"]:
    """The config called ``name``: a LazyConfig for a ``.py`` file, a yacs ``CfgNode`` for a yacs ``.yaml``
    (as ``detectron2.model_zoo.get_config`` returns them). ``trained=True`` asks for the published weights
    in ``train.init_checkpoint`` / ``MODEL.WEIGHTS``: a ``CheckpointError``, none are published yet."""
    path = get_config_file(name)
    if trained:
        get_checkpoint_url(name)
    from ..config.yaml_config import is_yacs_yaml, load_yacs_config

    if path.endswith(".yaml") and is_yacs_yaml(path):
        return load_yacs_config(path)
    from detectron2.config import LazyConfig

    return LazyConfig.load(path)


def get(name: str, trained: bool = False) -> "nn.Module":
    """The model of config ``name``, built on the CPU with random weights (``trained=True``: see ``get_config``)."""
    from omegaconf import DictConfig

    cfg = get_config(name, trained)
    if isinstance(cfg, DictConfig):
        from ..config import instantiate_config

        return instantiate_config(cfg.model, "model")
    from ..config.yaml_config import build_model_from_yacs

    return build_model_from_yacs({"MODEL": cfg.MODEL})
