"""The training step: Detectron2's ``SimpleTrainer`` plus mixed precision, gradient clipping, a stop at the
first non-finite loss or gradient, and a state that resumes exactly.

Exact resume: the randomness of iteration i on rank r (dropout, drop-path, anything drawn from
Python's, NumPy's or torch's global RNGs) comes from RNGs seeded with (seed, r, i), so nothing that
ran before (evaluation, a restart) changes it; the train loader's position, the seed and the windows
of the smoothed metrics are part of the state, so a resumed run logs the same values as one that
never stopped.
"""
import logging
import time

import torch
from detectron2.engine import SimpleTrainer, TrainerBase
from detectron2.utils import comm
from detectron2.utils.events import EventStorage

from ..utils import UserError
from ..utils.seeding import Stream, derive_seed, seeded_rng
from .errors import TrainingDiverged

__all__ = ["SegTrainer"]

logger = logging.getLogger(__name__)

_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
METRIC_WINDOW = 20  # values of each smoothed metric kept in a checkpoint: the median window of Detectron2's writers


class SegTrainer(SimpleTrainer):
    """One optimisation step per call, optionally under autocast and with gradient clipping.

    Args:
        model, data_loader, optimizer: as for ``SimpleTrainer``; a data loader with ``state_dict`` /
            ``load_state_dict`` (``ctxseg.data.ResumableTrainLoader``) resumes at its position.
        amp: None (fp32), "bf16" or "fp16" (fp16 uses a gradient scaler; IIWA's un-normalised
            attention overflows fp16, prefer bf16).
        clip_grad: None, or the max total gradient norm (L2).
        device_type: "cuda" or "cpu", the autocast device.
        seed: the seed of each iteration's random draws.
    """

    def __init__(self, model, data_loader, optimizer, amp=None, clip_grad=None, device_type="cuda", seed=0):
        # Not SimpleTrainer.__init__: it starts the data loader, before a resume could set its position.
        TrainerBase.__init__(self)
        if amp not in (None, "bf16", "fp16"):
            raise ValueError(f"train.amp must be null, 'bf16' or 'fp16', got '{amp}'")
        model.train()
        self.model = model
        self.data_loader = data_loader
        self.optimizer = optimizer
        self.amp_dtype = _AMP_DTYPES.get(amp)
        self.clip_grad = clip_grad
        self.device_type = device_type
        self.grad_scaler = torch.amp.GradScaler(device_type) if amp == "fp16" else None
        self.seed = seed
        self._data_iter = None
        self._metric_windows = {}  # restored by load_state_dict, put into the event storage by train()

    @property
    def _data_loader_iter(self):
        if self._data_iter is None:
            self._data_iter = iter(self.data_loader)
        return self._data_iter

    def train(self, start_iter, max_iter):
        """Run iterations ``start_iter`` .. ``max_iter - 1`` with the hooks; a ``UserError`` is logged in one line."""
        logger.info("Starting training from iteration %d", start_iter)
        self.iter = self.start_iter = start_iter
        self.max_iter = max_iter
        with EventStorage(start_iter) as self.storage:
            self._restore_metric_windows()
            try:
                self.before_train()
                for self.iter in range(start_iter, max_iter):
                    self.before_step()
                    self.run_step()
                    self.after_step()
                self.iter += 1
            except UserError as e:
                logger.error("%s", e)
                raise
            except Exception:
                logger.exception("Exception during training:")
                raise
            finally:
                self._close_data_loader()
                self.after_train()

    def _close_data_loader(self):
        """Shut the loader's workers down now (a new iterator continues at the loader's position)."""
        if self._data_iter is not None and hasattr(self._data_iter, "close"):
            self._data_iter.close()
        self._data_iter = None

    def run_step(self):
        """Load a batch, compute the losses, back-propagate, clip, check that all is finite, step."""
        assert self.model.training, "[SegTrainer] model was changed to eval mode!"
        start = time.perf_counter()
        data = next(self._data_loader_iter)  # outside the step's RNGs: starting a loader draws from torch's
        data_time = time.perf_counter() - start

        devices = [torch.cuda.current_device()] if self.device_type == "cuda" else []
        with seeded_rng(derive_seed(self.seed, Stream.TRAINING_STEP, comm.get_rank(), self.iter), devices):
            with torch.autocast(self.device_type, dtype=self.amp_dtype or torch.float32,
                                enabled=self.amp_dtype is not None):
                loss_dict = self.model(data)
            losses = sum(loss_dict.values())

            self.optimizer.zero_grad()
            if self.grad_scaler is not None:
                self.grad_scaler.scale(losses).backward()
                self.grad_scaler.unscale_(self.optimizer)
            else:
                losses.backward()
        grad_norm = self._gradient_norm()
        self._stop_if_not_finite(loss_dict, losses, grad_norm)
        self._write_metrics(loss_dict, data_time)
        if self.clip_grad:
            self.storage.put_scalar("grad_norm", float(grad_norm), smoothing_hint=False)
        if self.grad_scaler is not None:
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
        else:
            self.optimizer.step()

    def _gradient_norm(self):
        """The total L2 norm of the gradients before clipping (clips when asked); None under fp16."""
        params = [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
        if self.clip_grad:
            return torch.nn.utils.clip_grad_norm_(params, self.clip_grad)
        if self.grad_scaler is not None:  # the scaler skips steps with inf gradients and lowers its scale
            return None
        return torch.nn.utils.get_total_norm([p.grad for p in params])

    def _stop_if_not_finite(self, loss_dict, losses, grad_norm):
        checked = {"loss": losses.detach()}
        if grad_norm is not None and self.grad_scaler is None:
            checked["gradient norm"] = grad_norm.detach()
        bad = [name for name, value in checked.items() if not bool(torch.isfinite(value).all())]
        if comm.get_world_size() > 1:  # every process stops, whichever saw it
            bad = sorted({name for names in comm.all_gather(bad) for name in names})
        if bad:
            values = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in loss_dict.items())
            raise TrainingDiverged(
                f"training diverged at iteration {self.iter}: the {' and the '.join(bad)} became NaN or infinite "
                f"(in this process: {values}, gradient norm={float(grad_norm) if grad_norm is not None else 'n/a'}); "
                "no step was taken with it. Lower optimizer.lr or set train.clip_grad.enabled=True.")

    def state_dict(self):
        """Iteration, optimizer, hooks, seed, the data loader's position, the metric windows (and the fp16 scaler)."""
        state = super().state_dict()
        state["seed"] = self.seed
        if self.grad_scaler is not None:
            state["grad_scaler"] = self.grad_scaler.state_dict()
        if hasattr(self.data_loader, "state_dict"):
            state["data_loader"] = self.data_loader.state_dict()
        storage = getattr(self, "storage", None)
        if storage is not None:
            state["metric_windows"] = {name: [list(v) for v in storage.history(name).values()[-METRIC_WINDOW:]]
                                       for name, smoothed in storage.smoothing_hints().items() if smoothed}
        return state

    def load_state_dict(self, state_dict):
        """Restore the state saved by ``state_dict``; the data loader restarts at its saved position."""
        super().load_state_dict(state_dict)
        self.seed = state_dict.get("seed", self.seed)
        if self.grad_scaler is not None and "grad_scaler" in state_dict:
            self.grad_scaler.load_state_dict(state_dict["grad_scaler"])
        if "data_loader" in state_dict and hasattr(self.data_loader, "load_state_dict"):
            self.data_loader.load_state_dict(state_dict["data_loader"])
            self._data_iter = None
        else:
            logger.warning("The train loader cannot resume its position (no state saved, or a loader without "
                           "load_state_dict): it starts again from its first sample")
        self._metric_windows = state_dict.get("metric_windows", {})

    def _restore_metric_windows(self):
        # EventStorage has no public way to refill a history: its buffers are filled directly.
        for name, values in self._metric_windows.items():
            for value, iteration in values:
                self.storage._history[name].update(value, iteration)
            self.storage._smoothing_hints[name] = True
        self._metric_windows = {}
