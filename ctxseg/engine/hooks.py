"""Hooks of ``do_train``: periodic checkpoints, and metric writing that survives an early stop."""
from detectron2.engine import HookBase
from detectron2.engine import hooks as d2_hooks

__all__ = ["CheckpointHook", "PeriodicWriter"]


class CheckpointHook(HookBase):
    """Save ``<prefix>_<iteration>.pth`` every ``period`` iterations and ``<prefix>_final.pth`` after the last.

    Runs in every process (only the main one writes). Of the periodic checkpoints this run saved, the
    newest ``max_to_keep`` are kept (None: all), each with its checksum file.
    """

    def __init__(self, checkpointer, period, max_to_keep=None, file_prefix="model"):
        self.checkpointer = checkpointer
        self.period = int(period)
        self.max_to_keep = max_to_keep
        self.file_prefix = file_prefix
        self._kept = []

    def after_step(self):
        iteration = self.trainer.iter
        if (iteration + 1) % self.period == 0:
            path = self.checkpointer.save(f"{self.file_prefix}_{iteration:07d}", iteration=iteration)
            if path and self.max_to_keep is not None:
                self._kept.append(path)
                while len(self._kept) > self.max_to_keep:
                    self.checkpointer.delete(self._kept.pop(0))
        if iteration >= self.trainer.max_iter - 1:
            self.checkpointer.save(f"{self.file_prefix}_final", iteration=iteration)


class PeriodicWriter(d2_hooks.PeriodicWriter):
    """Detectron2's ``PeriodicWriter``, which does not write again at the end an iteration it has just written.

    Training stopped early (a signal) ends at the iteration it last wrote; writing it twice makes
    Detectron2's printer divide by the iterations in between (zero) when it has no timings yet.
    """

    _last_written = None

    def after_step(self):
        super().after_step()
        if (self.trainer.iter + 1) % self._period == 0 or self.trainer.iter == self.trainer.max_iter - 1:
            self._last_written = self.trainer.iter

    def after_train(self):
        if self.trainer.storage.iter != self._last_written:
            super().after_train()
            return
        for writer in self._writers:
            writer.close()
