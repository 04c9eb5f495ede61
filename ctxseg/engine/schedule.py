"""Learning-rate multiplier: linear warm-up on top of poly decay, as MMCV computes it."""
from fvcore.common.param_scheduler import ParamScheduler

__all__ = ["WarmupPolyScheduler"]


class WarmupPolyScheduler(ParamScheduler):
    """``(1 - i/max_iter)^power``, times ``r + (1 - r) * i / warmup_iters`` while ``i < warmup_iters``.

    A Detectron2 ``lr_multiplier``: each parameter group's own base lr is multiplied by it, so the
    groups' lr multipliers are preserved, as MMCV's poly policy does. ``min_value`` is the floor of
    the poly part (MMCV's ``min_lr`` divided by the base lr).
    """

    def __init__(self, max_iter: int, power: float = 1.0, warmup_iters: int = 0, warmup_ratio: float = 1e-6,
                 min_value: float = 0.0):
        if max_iter <= 0:
            raise ValueError(f"max_iter must be positive, got {max_iter}")
        self.max_iter = max_iter
        self.power = power
        self.warmup_iters = warmup_iters
        self.warmup_ratio = warmup_ratio
        self.min_value = min_value

    def value_at(self, iteration: int) -> float:
        """The multiplier at an integer iteration."""
        progress = min(iteration, self.max_iter) / self.max_iter
        value = (1.0 - self.min_value) * (1.0 - progress) ** self.power + self.min_value
        if iteration < self.warmup_iters:
            value *= self.warmup_ratio + (1.0 - self.warmup_ratio) * iteration / self.warmup_iters
        return value

    def __call__(self, where: float) -> float:
        return self.value_at(int(round(where * self.max_iter)))
