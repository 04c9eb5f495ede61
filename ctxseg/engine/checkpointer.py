"""The checkpointer of training, evaluation and the demo: safe loading, integrity checks, resume.

- Files are read with ``ctxseg.checkpoint.load_checkpoint`` (weights only; legacy pickles only with
  ``allow_pickle``), which verifies the SHA-256 saved beside a checkpoint.
- ``save`` refuses a state with a NaN or infinite weight or optimizer value, writes the file atomically
  with its SHA-256, stores the config's ``model`` section in it, then tags it in ``last_checkpoint``.
- Weights go into the model only after their names and shapes were compared with the model's:
  ``load`` (evaluation, demo) and ``resume`` need an exact match; ``load_init``
  (``train.init_checkpoint``) refuses other shapes and reports missing weights as starting from their init.
- ``resume`` reads only files inside the output dir; it takes the tagged checkpoint or, when that one
  is unreadable, fails its checksum or holds non-finite values, the newest intact one (with a
  warning), and refuses a checkpoint trained with another ``model`` config section.
"""
import logging
import os
import re
from collections.abc import Mapping

import numpy as np
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.checkpoint.c2_model_loading import align_and_update_state_dicts

from ..checkpoint.storage import CheckpointReadError, checksum_path, load_checkpoint, write_checkpoint
from ..utils import CheckpointError, ConfigError, atomic_write
from .config_diff import config_differences
from .errors import TrainingDiverged
from .state_check import compare_with_model, first_non_finite

__all__ = ["AtomicCheckpointer", "CheckpointMismatchError"]

TAG_NAME = "last_checkpoint"
_SHOWN = 10  # config differences listed in a refusal


class CheckpointMismatchError(CheckpointError):
    """A checkpoint whose weights or saved state do not fit the model, optimizer or config."""


def _inside(directory, path):
    directory = os.path.realpath(directory)
    return os.path.realpath(path).startswith(directory + os.sep)


def _strip_prefix(state, prefix):
    if state and all(key.startswith(prefix) for key in state):
        return {key[len(prefix):]: value for key, value in state.items()}
    return state


class AtomicCheckpointer(DetectionCheckpointer):
    """A ``DetectionCheckpointer`` that loads safely, checks what it loads and never writes a broken file.

    Args:
        model: the model (a DDP wrapper is unwrapped).
        save_dir: where checkpoints are saved and resumed from (the output dir).
        allow_pickle: also read legacy pickles (runs code from the file; trusted files only).
        model_config: the flat ``model`` config section (``config_diff.flatten_config``) to store with
            every checkpoint and compare on resume; None: neither.
        checkpointables: other objects with ``state_dict`` / ``load_state_dict`` (e.g. ``trainer=``).
    """

    def __init__(self, model, save_dir="", *, allow_pickle=False, model_config=None, save_to_disk=None,
                 **checkpointables):
        super().__init__(model, save_dir, save_to_disk=save_to_disk, **checkpointables)
        self.logger = logging.getLogger(__name__)
        self.allow_pickle = allow_pickle
        self.model_config = model_config
        self.last_saved = None  # path of the last checkpoint this checkpointer wrote
        self.last_saved_iteration = None  # and the iteration it was saved after

    # ---- saving

    def save(self, name, **extra):
        """Save model and checkpointables to ``<save_dir>/<name>.pth`` and tag it; return its path.

        Raises ``TrainingDiverged`` (writing nothing) when a weight or optimizer value is not finite.
        Returns None in processes that do not write (not the main one).
        """
        if not self.save_dir or not self.save_to_disk:
            return None
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        if self.model_config is not None:
            data["model_config"] = self.model_config
        data.update(extra)
        path = os.path.join(self.save_dir, f"{name}.pth")
        bad = first_non_finite({key: data[key] for key in ["model", *self.checkpointables]})
        if bad:
            raise TrainingDiverged(f"refusing to save {path} (after iteration {extra.get('iteration', '?')}): "
                                   f"'{bad}' holds NaN or infinite values")
        self.logger.info("Saving checkpoint to %s", path)
        write_checkpoint(data, path)
        self.tag_last_checkpoint(os.path.basename(path))
        self.last_saved, self.last_saved_iteration = path, extra.get("iteration")
        return path

    def tag_last_checkpoint(self, last_filename_basename):
        """Point ``last_checkpoint`` at ``last_filename_basename`` atomically."""
        with atomic_write(os.path.join(self.save_dir, TAG_NAME), "w") as f:
            f.write(last_filename_basename)

    def delete(self, path):
        """Remove a checkpoint and its checksum file."""
        for file in (path, checksum_path(path)):
            if os.path.exists(file):
                os.remove(file)

    # ---- loading

    def _load_file(self, filename):
        checkpoint = dict(load_checkpoint(filename, allow_pickle=self.allow_pickle))
        if filename.endswith(".pkl") and not ("model" in checkpoint and "__author__" in checkpoint):
            # Caffe2 / Detectron1 model-zoo layout: Detectron2's name-matching heuristics map its blobs.
            blobs = checkpoint.get("blobs", checkpoint)
            blobs = {k: v for k, v in blobs.items() if not k.endswith("_momentum")}
            return {"model": blobs, "__author__": "Caffe2", "matching_heuristics": True}
        if "model" not in checkpoint:
            checkpoint = {"model": checkpoint}
        return checkpoint

    def _model_state(self, checkpoint, path):
        state = checkpoint.pop("model")
        if not isinstance(state, Mapping) or not all(isinstance(v, (torch.Tensor, np.ndarray)) for v in state.values()):
            raise CheckpointReadError(f"{path} is not a model checkpoint: its 'model' entry is not a dict of tensors")
        state = dict(state)
        self._convert_ndarray_to_tensor(state)
        if checkpoint.get("matching_heuristics", False):
            state = align_and_update_state_dicts(self.model.state_dict(), state,
                                                 c2_conversion=checkpoint.get("__author__") == "Caffe2")
        return _strip_prefix(state, "module.")

    def _load_model_checked(self, checkpoint, path, exact):
        state = self._model_state(checkpoint, path)
        mismatch = compare_with_model(state, self.model.state_dict())
        if exact and mismatch:
            raise CheckpointMismatchError(f"checkpoint {path} does not fit the model: {mismatch.describe()}. "
                                          "Is it a checkpoint of another config?")
        if mismatch.shapes:
            raise CheckpointMismatchError(f"checkpoint {path} has weights of another shape than the model: "
                                          f"{mismatch.describe_shapes()}. Is it a checkpoint of another config?")
        if mismatch.missing:
            self.logger.warning("%d model weights are not in %s and start from their init: %s",
                                len(mismatch.missing), path, mismatch.describe_missing())
        if mismatch.unexpected:
            self.logger.warning("%d weights of %s are not used by the model: %s",
                                len(mismatch.unexpected), path, mismatch.describe_unexpected())
        self.model.load_state_dict(state, strict=False)

    def _restore_checkpointables(self, checkpoint, path, names):
        for key in names:
            if key not in checkpoint:
                continue
            self.logger.info("Loading %s from %s ...", key, path)
            try:
                self.checkpointables[key].load_state_dict(checkpoint.pop(key))
            except (ValueError, KeyError, RuntimeError, TypeError, IndexError) as e:
                raise CheckpointMismatchError(f"cannot restore the {key} state from {path}: {e}. Did the optimizer "
                                              "or its parameter groups change since it was saved?") from e

    def _load(self, path, checkpointables, exact):
        if not path:
            self.logger.info("No checkpoint given: the model keeps its initial weights")
            return {}
        path = os.fspath(path)
        if "://" in path and not os.path.isfile(path):
            path = self.path_manager.get_local_path(path)  # downloaded, then read like any file
        self.logger.info("Loading checkpoint %s", path)
        checkpoint = self._load_file(path)
        self._load_model_checked(checkpoint, path, exact)
        names = self.checkpointables if checkpointables is None else checkpointables
        self._restore_checkpointables(checkpoint, path, names)
        return checkpoint

    def load(self, path, checkpointables=None):
        """Load ``path``: the model must match it exactly (evaluation, demo); also load the checkpointables.

        Returns the rest of the checkpoint; an empty ``path`` loads nothing.
        """
        return self._load(path, checkpointables, exact=True)

    def load_init(self, path):
        """Start training from the weights of ``path`` (``train.init_checkpoint``).

        Weights of another shape are an error; model weights the file lacks keep their init (a
        converted ImageNet backbone has no head) and are listed in a warning.
        """
        return self._load(path, [], exact=False)

    # ---- resuming

    def _tagged_checkpoint(self):
        tag = os.path.join(self.save_dir, TAG_NAME)
        try:
            with open(tag) as f:
                name = f.read().strip()
        except FileNotFoundError:
            return None
        if not name:
            self.logger.warning("%s is empty: looking for the newest checkpoint instead", tag)
            return None
        if os.path.basename(name) != name or name in (".", "..") or \
                not _inside(self.save_dir, os.path.join(self.save_dir, name)):
            raise CheckpointError(f"{tag} names '{name}', which is not a file in the output dir {self.save_dir}: "
                                  f"--resume only loads checkpoints from train.output_dir. Fix or delete {tag}.")
        return os.path.join(self.save_dir, name)

    def _saved_checkpoints(self):
        """The checkpoints this checkpointer names (model_<iteration>.pth, model_final.pth), newest first."""
        found = []
        for name in os.listdir(self.save_dir):
            path = os.path.join(self.save_dir, name)
            if re.fullmatch(r"model_(\d+|final)\.pth", name) and os.path.isfile(path):
                if _inside(self.save_dir, path):
                    found.append((os.stat(path).st_mtime_ns, name, path))
                else:
                    self.logger.warning("Ignoring %s: it links to a file outside the output dir", path)
        return [path for _, _, path in sorted(found, reverse=True)]

    def _check_model_config(self, checkpoint, path):
        saved = checkpoint.get("model_config")
        if saved is None or self.model_config is None:
            return
        differences = config_differences(dict(saved), self.model_config)
        if differences:
            shown = "; ".join(differences[:_SHOWN]) + (f"; ... ({len(differences)} in all)"
                                                       if len(differences) > _SHOWN else "")
            raise ConfigError(
                f"--resume refused: the model config differs from the one {path} was trained with "
                f"(saved -> now): {shown}. Restore these values to resume, or train in another train.output_dir "
                f"(train.init_checkpoint={path} starts from these weights).")

    def _read_intact(self, path):
        """Read ``path`` for resuming; raise ``CheckpointError`` if it is unreadable or holds non-finite state."""
        checkpoint = self._load_file(path)
        bad = first_non_finite({key: checkpoint.get(key) for key in ["model", *self.checkpointables]})
        if bad:
            raise CheckpointReadError(f"checkpoint {path} holds NaN or infinite values ('{bad}')")
        return checkpoint

    def resume(self):
        """Load the last intact checkpoint of ``save_dir`` into the model and checkpointables.

        Returns the rest of that checkpoint, or None when the output dir has no checkpoint yet.
        """
        tagged = self._tagged_checkpoint()
        candidates = [path for path in [tagged, *self._saved_checkpoints()] if path]
        candidates = list(dict.fromkeys(candidates))
        if not candidates:
            return None
        problems = []
        for path in candidates:
            try:
                checkpoint = self._read_intact(path)
            except CheckpointError as e:
                problems.append(str(e))
                self.logger.warning("Cannot resume from %s: %s", path, e)
                continue
            if problems:
                self.logger.warning("Resuming from %s, the newest intact checkpoint", path)
            self._check_model_config(checkpoint, path)
            self._load_model_checked(checkpoint, path, exact=True)
            self._restore_checkpointables(checkpoint, path, self.checkpointables)
            return checkpoint
        raise CheckpointReadError(f"--resume found no intact checkpoint in {self.save_dir}: " + "; ".join(problems))

    def resume_or_load(self, path, *, resume=True):
        """``resume()`` when asked and the output dir has a checkpoint, else ``load_init(path)``."""
        if resume:
            checkpoint = self.resume()
            if checkpoint is not None:
                return checkpoint
        return self.load_init(path)
