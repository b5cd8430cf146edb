"""Training engine: trainers, hooks, multi-process launch, the tools' defaults, Predictor.

``Predictor`` is imported on first use: it needs ``det.data`` (and torchvision), which the
training loop and ``launch`` do not.
"""

from det.engine import hooks
from det.engine.aug_test import MMSEG_AUG_TEST_RATIOS, apply_aug_test
from det.engine.defaults import (
    check_train_config,
    comma_separated_choices,
    create_ddp_model,
    default_argument_parser,
    default_setup,
    default_writers,
)
from det.engine.hooks import (
    BestCheckpointer,
    CallbackHook,
    EvalHook,
    IterationTimer,
    LRScheduler,
    PeriodicCheckpointer,
    PeriodicWriter,
)
from det.engine.launch import DEFAULT_TIMEOUT, launch
from det.engine.train_loop import AMPTrainer, HookBase, SimpleTrainer, TrainerBase

__all__ = [
    "MMSEG_AUG_TEST_RATIOS",
    "AMPTrainer",
    "BestCheckpointer",
    "CallbackHook",
    "DEFAULT_TIMEOUT",
    "EvalHook",
    "HookBase",
    "IterationTimer",
    "LRScheduler",
    "PeriodicCheckpointer",
    "PeriodicWriter",
    "Predictor",
    "SimpleTrainer",
    "TrainerBase",
    "apply_aug_test",
    "comma_separated_choices",
    "create_ddp_model",
    "default_argument_parser",
    "check_train_config",
    "default_setup",
    "default_writers",
    "hooks",
    "launch",
]


def __getattr__(name: str):
    if name == "Predictor":
        from det.engine.predictor import Predictor

        return Predictor
    raise AttributeError(f"module 'det.engine' has no attribute '{name}'")
