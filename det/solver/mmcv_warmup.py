"""mmcv's linear warm-up, which multiplies the current value of the main schedule, and mmcv's
``policy="CosineRestart"`` (RegionProxy's ``adamw-cr`` cards).

mmcv's ``LrUpdaterHook`` with ``warmup="linear"`` uses, at 0-based iteration ``t < W``,
``lr = regular_lr(t) * (1 - (1 - t / W) * (1 - warmup_ratio))``. detectron2's
:class:`det.solver.WarmupParamScheduler` instead interpolates from
``warmup_factor * scheduler(0)`` to ``scheduler(W / T)``, which is close but not equal. With
fvcore's ``PolynomialDecayParamScheduler(1.0, power)`` this gives mmcv's ``policy="poly"``
(``min_lr=0``) exactly, as the BEiT / ViT-Adapter / EVA-01 segmentation configs use it::

    L(MMCVWarmupParamScheduler)(
        scheduler=L(PolynomialDecayParamScheduler)(base_value=1.0, power=1.0),
        warmup_length=1500 / 80000,
        warmup_ratio=1e-6,
    )
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from fvcore.common.param_scheduler import ParamScheduler

__all__ = ["MMCVCosineRestartParamScheduler", "MMCVWarmupParamScheduler"]


class MMCVWarmupParamScheduler(ParamScheduler):
    """``scheduler(where) * warmup(where)`` with mmcv's linear warm-up factor.

    Args:
        scheduler: the main schedule, evaluated at every ``where`` (also during warm-up).
        warmup_length: W / T, the warm-up length as a fraction of training, in [0, 1).
        warmup_ratio: the factor at ``where = 0`` (mmcv's ``warmup_ratio``).
    """

    def __init__(self, scheduler: ParamScheduler, warmup_length: float, warmup_ratio: float):
        if not 0.0 <= warmup_length < 1.0:
            raise ValueError(
                f"MMCVWarmupParamScheduler: warmup_length must be in [0, 1) (warmup_iters / "
                f"max_iter); got {warmup_length}"
            )
        self._scheduler = scheduler
        self._warmup_length = warmup_length
        self._warmup_ratio = warmup_ratio

    def __call__(self, where: float) -> float:
        """The multiplier at training progress ``where = iteration / max_iter``."""
        value = self._scheduler(where)
        if where < self._warmup_length:
            value *= 1.0 - (1.0 - where / self._warmup_length) * (1.0 - self._warmup_ratio)
        return value


class MMCVCosineRestartParamScheduler(ParamScheduler):
    """mmcv's ``CosineRestartLrUpdaterHook`` as a multiplier of the base lr.

    Training is cut into ``periods`` (in iterations); at iteration ``t`` inside period ``i``
    (starting at ``c_i``) the value is
    ``m + 0.5 * (w_i - m) * (1 + cos(pi * (t - c_i) / p_i))`` with ``w_i = restart_weights[i]``
    and ``m = min_lr_ratio``: a cosine from ``w_i`` to ``m`` per period. Iterations past the
    last period stay at ``m``.

    Args:
        periods: iterations of each cycle (RegionProxy 160k: 20000, 40000, 100000).
        restart_weights: the value each cycle restarts from (1, 0.5, 0.25).
        min_lr_ratio: the value every cycle anneals to (mmcv's ``min_lr_ratio``).
    """

    def __init__(
        self,
        periods: Sequence[int],
        restart_weights: Sequence[float],
        min_lr_ratio: float = 0.0,
    ) -> None:
        if len(periods) != len(restart_weights) or not periods or min(periods) <= 0:
            raise ValueError(
                "MMCVCosineRestartParamScheduler: periods and restart_weights must be equally "
                f"long and periods positive; got periods={list(periods)}, "
                f"restart_weights={list(restart_weights)}"
            )
        self._periods = [int(p) for p in periods]
        self._weights = [float(w) for w in restart_weights]
        self._min = float(min_lr_ratio)
        self._total = sum(self._periods)

    def __call__(self, where: float) -> float:
        """The multiplier at ``where = iteration / max_iter``, with max_iter = sum(periods)."""
        t = where * self._total
        start = 0.0
        for period, weight in zip(self._periods, self._weights):
            if t < start + period:
                alpha = (t - start) / period
                return self._min + 0.5 * (weight - self._min) * (1.0 + math.cos(math.pi * alpha))
            start += period
        return self._min
