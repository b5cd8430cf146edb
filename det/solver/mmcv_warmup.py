"""mmcv's linear warm-up, which multiplies the current value of the main schedule.

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

from fvcore.common.param_scheduler import ParamScheduler

__all__ = ["MMCVWarmupParamScheduler"]


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
