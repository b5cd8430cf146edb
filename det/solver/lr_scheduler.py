"""Learning-rate schedules: fvcore param schedulers with warm-up, applied per iteration.

A schedule is a function ``multiplier(where)`` of the training progress
``where = iteration / max_iter`` in [0, 1). Configs build it as
``L(WarmupParamScheduler)(scheduler=L(MultiStepParamScheduler)(...), warmup_length=...)``;
the ``LRScheduler`` hook wraps it in :class:`LRMultiplier`, which sets each param group's
``lr = initial_lr * multiplier(iteration / max_iter)``.
"""

from __future__ import annotations

from fvcore.common.param_scheduler import ParamScheduler
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["LRMultiplier", "WarmupParamScheduler"]


class WarmupParamScheduler(ParamScheduler):
    """Adds a warm-up phase in front of a param scheduler.

    During the first ``warmup_length`` fraction of training the value goes from
    ``warmup_factor * scheduler(0)`` to ``scheduler(warmup_length)`` (linearly, or stays at the
    start value for ``"constant"``); afterwards it is ``scheduler(where)``.
    """

    def __init__(
        self,
        scheduler: ParamScheduler,
        warmup_factor: float,
        warmup_length: float,
        warmup_method: str = "linear",
        rescale_interval: bool = False,
    ):
        """Args:
        scheduler: the schedule after warm-up.
        warmup_factor: the warm-up starts at ``warmup_factor * scheduler(0)``.
        warmup_length: length of the warm-up as a fraction of training, in [0, 1)
            (e.g. ``1000 / max_iter``).
        warmup_method: ``"linear"`` or ``"constant"``.
        rescale_interval: if True, ``scheduler`` sees the remaining training rescaled to
            [0, 1), i.e. ``scheduler((where - warmup_length) / (1 - warmup_length))``; if False
            (detectron2's default) it sees ``where`` unchanged.
        """
        if warmup_method not in ("linear", "constant"):
            raise ValueError(
                f"Unknown warmup_method '{warmup_method}'; expected 'linear' or 'constant'."
            )
        if not 0.0 <= warmup_length < 1.0:
            raise ValueError(f"warmup_length must be in [0, 1); got {warmup_length}.")
        self._scheduler = scheduler
        self._warmup_length = warmup_length
        self._warmup_method = warmup_method
        self._rescale_interval = rescale_interval
        self._start_value = warmup_factor * scheduler(0.0)
        self._end_value = scheduler(warmup_length)

    def __call__(self, where: float) -> float:
        """Returns the multiplier at training progress ``where`` in [0, 1)."""
        # The epsilon matches fvcore's composite schedulers: float progress values that should
        # equal the boundary land on the main schedule.
        if where + self.WHERE_EPSILON < self._warmup_length:
            if self._warmup_method == "constant":
                return self._start_value
            alpha = where / self._warmup_length
            return self._start_value + alpha * (self._end_value - self._start_value)
        if self._rescale_interval:
            where = (where - self._warmup_length) / (1.0 - self._warmup_length)
        return self._scheduler(where)


class LRMultiplier(LRScheduler):
    """A torch LR scheduler that multiplies each param group's initial lr by a param schedule.

    After ``k`` calls of ``step()`` (one per iteration) every param group has
    ``lr = initial_lr * multiplier((last_iter + 1 + k) / max_iter)``. Param groups keep their
    relative lr (e.g. from layer-wise lr decay).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        multiplier: ParamScheduler,
        max_iter: int,
        last_iter: int = -1,
    ):
        """Args:
        optimizer: the optimizer whose lrs are set.
        multiplier: maps progress ``where`` in [0, 1) to an lr multiplier.
        max_iter: total number of training iterations.
        last_iter: the last iteration already done; ``-1`` for a fresh start. When
            resuming, the optimizer's param groups must carry ``"initial_lr"`` (they do when
            the optimizer state was saved while a scheduler was attached).
        """
        if not isinstance(multiplier, ParamScheduler):
            raise ValueError(
                "LRMultiplier(multiplier=) must be an fvcore ParamScheduler; "
                f"got {type(multiplier).__name__}."
            )
        self._multiplier = multiplier
        self._max_iter = max_iter
        super().__init__(optimizer, last_epoch=last_iter)

    def state_dict(self) -> dict:
        """Returns ``{"base_lrs", "last_epoch"}``; the multiplier is rebuilt from the config."""
        return {"base_lrs": self.base_lrs, "last_epoch": self.last_epoch}

    def get_lr(self) -> list[float]:
        multiplier = self._multiplier(self.last_epoch / self._max_iter)
        return [base_lr * multiplier for base_lr in self.base_lrs]
