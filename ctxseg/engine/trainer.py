"""The training step: Detectron2's ``SimpleTrainer`` plus mixed precision and gradient clipping."""
import time

import torch
from detectron2.engine import SimpleTrainer

__all__ = ["SegTrainer"]

_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class SegTrainer(SimpleTrainer):
    """One optimisation step per call, optionally under autocast and with gradient clipping.

    Args:
        model, data_loader, optimizer: as for ``SimpleTrainer``.
        amp: None (fp32), "bf16" or "fp16" (fp16 uses a gradient scaler; IIWA's un-normalised
            attention overflows fp16, prefer bf16).
        clip_grad: None, or the max total gradient norm (L2).
        device_type: "cuda" or "cpu", the autocast device.
    """

    def __init__(self, model, data_loader, optimizer, amp=None, clip_grad=None, device_type="cuda"):
        super().__init__(model, data_loader, optimizer)
        if amp not in (None, "bf16", "fp16"):
            raise ValueError(f"train.amp must be null, 'bf16' or 'fp16', got '{amp}'")
        self.amp_dtype = _AMP_DTYPES.get(amp)
        self.clip_grad = clip_grad
        self.device_type = device_type
        self.grad_scaler = torch.amp.GradScaler(device_type) if amp == "fp16" else None

    def run_step(self):
        """Load a batch, compute the losses, back-propagate, clip, step."""
        assert self.model.training, "[SegTrainer] model was changed to eval mode!"
        start = time.perf_counter()
        data = next(self._data_loader_iter)
        data_time = time.perf_counter() - start

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
        self._write_metrics(loss_dict, data_time)
        if self.clip_grad:
            params = [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
            norm = torch.nn.utils.clip_grad_norm_(params, self.clip_grad)
            self.storage.put_scalar("grad_norm", float(norm), smoothing_hint=False)
        if self.grad_scaler is not None:
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
        else:
            self.optimizer.step()

    def state_dict(self):
        """Trainer state, including the fp16 gradient scaler when there is one."""
        state = super().state_dict()
        if self.grad_scaler is not None:
            state["grad_scaler"] = self.grad_scaler.state_dict()
        return state

    def load_state_dict(self, state_dict):
        """Restore the trainer state (and the fp16 gradient scaler)."""
        super().load_state_dict(state_dict)
        if self.grad_scaler is not None and "grad_scaler" in state_dict:
            self.grad_scaler.load_state_dict(state_dict["grad_scaler"])
