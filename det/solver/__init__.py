"""Optimizer parameter groups and learning-rate schedules."""

from det.solver.build import get_default_optimizer_params, reduce_param_groups
from det.solver.lr_scheduler import LRMultiplier, WarmupParamScheduler

__all__ = [
    "LRMultiplier",
    "WarmupParamScheduler",
    "get_default_optimizer_params",
    "reduce_param_groups",
]
