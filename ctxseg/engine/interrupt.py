"""SIGINT and SIGTERM as a request to stop training after the current iteration, with a checkpoint.

A pre-empted cluster job gets SIGTERM (and a grace period); Ctrl-C sends SIGINT. Instead of dying
mid-step, training finishes the iteration it is in, saves a checkpoint, says where, and ends with
``TrainingInterrupted`` (exit status 128 + the signal number), so the job can be resumed. A repeated
signal changes nothing (process groups and launchers often deliver one signal several times);
``kill -9`` stops at once.
"""
import logging
import signal
import threading

from detectron2.engine import HookBase
from detectron2.utils import comm

from .errors import TrainingInterrupted

__all__ = ["StopRequest", "StopOnSignal", "STOP_SIGNALS"]

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Inside ``with``, SIGINT and SIGTERM set ``signum`` instead of ending the process.

    Handlers can only be installed from the main thread; elsewhere the signals keep their behaviour.
    """

    def __init__(self):
        self.signum = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _handle(self, signum, frame):
        name = signal.Signals(signum).name
        if self.signum is None:
            self.signum = signum
            logger.warning("Received %s: stopping after the current iteration, with a checkpoint "
                           "(kill -9 stops at once)", name)
        else:
            logger.warning("Received %s again: already stopping after the current iteration", name)


class StopOnSignal(HookBase):
    """After each iteration: if any process was asked to stop, save a checkpoint and raise ``TrainingInterrupted``.

    Register it last, so that the iteration's other hooks (checkpoint, evaluation, writers) run first.
    Every process takes part in deciding, so all of them stop after the same iteration.
    """

    def __init__(self, checkpointer, stop_request):
        self.checkpointer = checkpointer
        self.stop_request = stop_request

    def after_step(self):
        signum = self.stop_request.signum or 0
        if comm.get_world_size() > 1:
            signum = max(comm.all_gather(signum))
        if not signum:
            return
        iteration = self.trainer.iter
        path = self.checkpointer.last_saved
        if path is None or self.checkpointer.last_saved_iteration != iteration:
            path = self.checkpointer.save(f"model_{iteration:07d}", iteration=iteration)
        comm.synchronize()  # no process leaves (and gets its launcher to end the others) before the save is done
        raise TrainingInterrupted.after(signum, iteration, path)
