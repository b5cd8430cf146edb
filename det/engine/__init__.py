"""Training engine: trainers, hooks, multi-process launch and the tools' defaults."""

from det.engine import hooks
from det.engine.defaults import (
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
from det.engine.predictor import Predictor
from det.engine.train_loop import AMPTrainer, HookBase, SimpleTrainer, TrainerBase

__all__ = [
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
    "create_ddp_model",
    "default_argument_parser",
    "default_setup",
    "default_writers",
    "hooks",
    "launch",
]
