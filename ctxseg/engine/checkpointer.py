"""A Detectron2 checkpointer whose files are written atomically (never a broken "last checkpoint")."""
import os

import torch
from detectron2.checkpoint import DetectionCheckpointer

from ..utils import atomic_write

__all__ = ["AtomicCheckpointer"]


class AtomicCheckpointer(DetectionCheckpointer):
    """``DetectionCheckpointer`` that writes each checkpoint and the ``last_checkpoint`` tag atomically.

    A crash while saving leaves the previous checkpoint and tag untouched and no partial file behind.
    """

    def save(self, name, **kwargs):
        """Save model and checkpointables to ``<save_dir>/<name>.pth``, then tag it as the last one."""
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        basename = f"{name}.pth"
        path = os.path.join(self.save_dir, basename)
        self.logger.info(f"Saving checkpoint to {path}")
        with atomic_write(path) as f:
            torch.save(data, f)
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename):
        """Point ``last_checkpoint`` at ``last_filename_basename`` atomically."""
        with atomic_write(os.path.join(self.save_dir, "last_checkpoint"), "w") as f:
            f.write(last_filename_basename)
