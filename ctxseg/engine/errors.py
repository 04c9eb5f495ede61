"""How a training run ends early on purpose: stopped by a signal, or diverged (non-finite values)."""
import signal

from ..utils import UserError

__all__ = ["TrainingInterrupted", "TrainingDiverged"]


class TrainingInterrupted(UserError):
    """Training stopped after an iteration because of SIGINT or SIGTERM, with a checkpoint to resume from.

    ``exit_code`` is ``128 + signal number``, the status of a process ended by that signal.
    """

    def __init__(self, message, signum):
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum

    @classmethod
    def after(cls, signum, iteration, checkpoint):
        """The error for a stop after ``iteration`` that saved ``checkpoint`` (None: not written by this process)."""
        saved = f"saved {checkpoint}" if checkpoint else "the main process saved a checkpoint"
        return cls(f"training stopped by {signal.Signals(signum).name} after iteration {iteration}; {saved}. "
                   "Run the same command with --resume to continue.", signum)

    def __reduce__(self):
        return type(self), (str(self), self.signum)


class TrainingDiverged(UserError):
    """A loss, gradient norm, weight or optimizer value became NaN or infinite; nothing non-finite was saved."""
