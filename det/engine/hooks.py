"""Standard training hooks: timing, lr schedule, checkpointing, evaluation and metric writing.

The training script registers them in this order (``after_step`` runs in the same order):
``IterationTimer``, (``EMAHook``), ``LRScheduler``, ``PeriodicCheckpointer``, ``EvalHook``,
``PeriodicWriter``.
"""

from __future__ import annotations

import datetime
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import torch
from fvcore.common.param_scheduler import ParamScheduler

from det.checkpoint.checkpointer import Checkpointer
from det.checkpoint.checkpointer import PeriodicCheckpointer as _PeriodicCheckpointer
from det.engine.train_loop import HookBase
from det.solver.lr_scheduler import LRMultiplier
from det.utils import comm
from det.utils.events import EventWriter

__all__ = [
    "BestCheckpointer",
    "CallbackHook",
    "EMAHook",
    "EvalHook",
    "IterationTimer",
    "LRScheduler",
    "PeriodicCheckpointer",
    "PeriodicWriter",
]

logger = logging.getLogger(__name__)


class CallbackHook(HookBase):
    """A hook made of plain functions, each called with the trainer."""

    def __init__(
        self,
        *,
        before_train: Callable | None = None,
        after_train: Callable | None = None,
        before_step: Callable | None = None,
        after_step: Callable | None = None,
    ):
        """Args:
        before_train, after_train, before_step, after_step: ``fn(trainer)`` or ``None``.
        """
        self._before_train = before_train
        self._after_train = after_train
        self._before_step = before_step
        self._after_step = after_step

    def before_train(self) -> None:
        if self._before_train:
            self._before_train(self.trainer)

    def after_train(self) -> None:
        if self._after_train:
            self._after_train(self.trainer)
        # The functions may hold references to the trainer (e.g. closures); release them.
        del self._before_train, self._after_train, self._before_step, self._after_step

    def before_step(self) -> None:
        if self._before_step:
            self._before_step(self.trainer)

    def after_step(self) -> None:
        if self._after_step:
            self._after_step(self.trainer)


class IterationTimer(HookBase):
    """Records the time of each iteration as scalar ``time`` and logs the overall speed.

    Should be registered first so that it measures the time of the other hooks too.
    """

    def __init__(self, warmup_iter: int = 3):
        """Args:
        warmup_iter: iterations at the start excluded from the summary (they are slow).
        """
        self._warmup_iter = warmup_iter
        self._step_start = 0.0
        self._start_time = 0.0
        self._total_timer_start: float | None = None
        self._total_time = 0.0

    def before_train(self) -> None:
        self._start_time = time.perf_counter()
        self._total_timer_start = None
        self._total_time = 0.0

    def after_train(self) -> None:
        total_time = time.perf_counter() - self._start_time
        num_iter = self.trainer.iter - self.trainer.start_iter - self._warmup_iter
        if num_iter > 0 and self._total_time > 0:
            logger.info(
                f"Overall training speed: {num_iter} iterations in "
                f"{datetime.timedelta(seconds=int(self._total_time))} "
                f"({self._total_time / num_iter:.4f} s / it)"
            )
        logger.info(
            f"Total training time: {datetime.timedelta(seconds=int(total_time))} "
            f"({datetime.timedelta(seconds=int(total_time - self._total_time))} on hooks)"
        )

    def before_step(self) -> None:
        self._step_start = time.perf_counter()
        if self.trainer.iter == self.trainer.start_iter + self._warmup_iter:
            self._total_timer_start = self._step_start

    def after_step(self) -> None:
        seconds = time.perf_counter() - self._step_start
        if self._total_timer_start is not None:
            self._total_time += seconds
        iter_done = self.trainer.storage.iter - self.trainer.start_iter + 1
        if iter_done > self._warmup_iter:
            self.trainer.storage.put_scalars(time=seconds)


class PeriodicWriter(HookBase):
    """Runs the writers every ``period`` iterations and after the last one."""

    def __init__(self, writers: list[EventWriter], period: int = 20):
        """Args:
        writers: e.g. ``default_writers(output_dir, max_iter)``.
        period: iterations between writes.
        """
        for w in writers:
            if not isinstance(w, EventWriter):
                raise TypeError(f"Expected an EventWriter, got {type(w).__name__}.")
        self._writers = writers
        self._period = period

    def after_step(self) -> None:
        it = self.trainer.iter
        if (it + 1) % self._period == 0 or it == self.trainer.max_iter - 1:
            for writer in self._writers:
                writer.write()

    def after_train(self) -> None:
        for writer in self._writers:
            # Flushes values put after the last iteration (e.g. the final evaluation).
            writer.write()
            writer.close()


class PeriodicCheckpointer(_PeriodicCheckpointer, HookBase):
    """Hook form of :class:`det.checkpoint.PeriodicCheckpointer`: ``model_{iter:07d}.pth``
    every ``period`` iterations, ``model_final.pth`` at the last one. ``max_iter`` is taken
    from the trainer.
    """

    def __init__(
        self,
        checkpointer: Checkpointer,
        period: int,
        max_to_keep: int | None = None,
        file_prefix: str = "model",
    ):
        """Args:
        checkpointer: saves the files (usually a ``DetectionCheckpointer`` with
            ``trainer=trainer``).
        period: iterations between checkpoints.
        max_to_keep: number of periodic files to keep (``None``: all).
        file_prefix: file name prefix.
        """
        super().__init__(
            checkpointer, period, max_iter=None, max_to_keep=max_to_keep, file_prefix=file_prefix
        )

    def before_train(self) -> None:
        self.max_iter = self.trainer.max_iter

    def after_step(self) -> None:
        self.step(self.trainer.iter)


class LRScheduler(HookBase):
    """Steps an lr scheduler after every iteration and records the lr as scalar ``lr``.

    Given an fvcore ``ParamScheduler`` (the LazyConfig ``lr_multiplier``) it builds an
    :class:`LRMultiplier` over the trainer's optimizer in ``before_train``, positioned at the
    trainer's start iteration, so a resumed run continues the same schedule.
    """

    def __init__(self, optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None):
        """Args:
        optimizer: defaults to ``trainer.optimizer``.
        scheduler: an fvcore ``ParamScheduler`` or a torch LR scheduler.
        """
        self._optimizer = optimizer
        self._scheduler = scheduler
        self._pending_state: dict | None = None
        self._best_param_group_id = 0

    @property
    def scheduler(self) -> Any:
        """The torch LR scheduler (after ``before_train``)."""
        return self._scheduler

    def before_train(self) -> None:
        self._optimizer = self._optimizer or self.trainer.optimizer
        if isinstance(self._scheduler, ParamScheduler):
            self._scheduler = LRMultiplier(
                self._optimizer,
                self._scheduler,
                self.trainer.max_iter,
                last_iter=self.trainer.iter - 1,
            )
        if self._pending_state is not None:
            self._scheduler.load_state_dict(self._pending_state)
            self._pending_state = None
        self._best_param_group_id = self.get_best_param_group_id(self._optimizer)

    @staticmethod
    def get_best_param_group_id(optimizer: torch.optim.Optimizer) -> int:
        """Returns the index of the param group whose lr is logged as ``lr``.

        With layer-wise lr decay the groups' lrs differ by orders of magnitude; logging the
        group with the most parameter elements (the detection heads, at the base lr) avoids a
        misleadingly small number.
        """
        sizes = [sum(p.numel() for p in g["params"]) for g in optimizer.param_groups]
        if len(set(sizes)) == 1 and len(sizes) > 1:
            lr_count = Counter(g["lr"] for g in optimizer.param_groups)
            common_lr = lr_count.most_common(1)[0][0]
            return next(i for i, g in enumerate(optimizer.param_groups) if g["lr"] == common_lr)
        return max(range(len(sizes)), key=lambda i: sizes[i])

    def after_step(self) -> None:
        lr = self._optimizer.param_groups[self._best_param_group_id]["lr"]
        self.trainer.storage.put_scalar("lr", lr, smoothing_hint=False)
        self._scheduler.step()

    def state_dict(self) -> dict:
        if isinstance(self._scheduler, torch.optim.lr_scheduler.LRScheduler):
            return self._scheduler.state_dict()
        return {}

    def load_state_dict(self, state_dict: dict) -> None:
        if isinstance(self._scheduler, torch.optim.lr_scheduler.LRScheduler):
            logger.info("Loading scheduler from state_dict ...")
            self._scheduler.load_state_dict(state_dict)
        else:
            # Resuming happens before before_train builds the LRMultiplier.
            self._pending_state = dict(state_dict)


class EvalHook(HookBase):
    """Runs an evaluation function every ``eval_period`` iterations and after training, and
    records its (flattened) results as scalars, e.g. ``bbox/AP``.

    NaN results (e.g. the AP of a category without ground truth) are not recorded, so that
    ``metrics.json`` stays valid JSON.
    """

    def __init__(
        self,
        eval_period: int,
        eval_function: Callable[[], Mapping | None],
        eval_after_train: bool = True,
    ):
        """Args:
        eval_period: evaluate after iteration ``it`` when ``(it + 1) % eval_period == 0``;
            ``0`` evaluates only after training.
        eval_function: called on every process with no arguments; returns a nested dict of
            numbers (``{"bbox": {"AP": 50.1, ...}}``) on the main process, ``{}``/``None``
            elsewhere.
        eval_after_train: also evaluate after the last iteration.
        """
        self._period = eval_period
        self._func = eval_function
        self._eval_after_train = eval_after_train

    def _do_eval(self) -> None:
        results = self._func()
        if results:
            if not isinstance(results, Mapping):
                raise TypeError(f"Eval function must return a dict; got {results!r}.")
            flattened = _flatten_results_dict(results)
            for k, v in flattened.items():
                try:
                    flattened[k] = float(v)
                except (TypeError, ValueError) as e:
                    raise ValueError(
                        "[EvalHook] eval_function should return a nested dict of numbers; "
                        f"got '{k}: {v!r}'."
                    ) from e
            finite = {k: v for k, v in flattened.items() if not math.isnan(v)}
            self.trainer.storage.put_scalars(**finite, smoothing_hint=False)
        # Evaluation may take different times on different processes.
        comm.synchronize()

    def after_step(self) -> None:
        # The last iteration is evaluated in after_train.
        if _is_period_end(self.trainer, self._period):
            self._do_eval()

    def after_train(self) -> None:
        # iter == max_iter only after a complete run; a failed run is not evaluated.
        if self._eval_after_train and self.trainer.iter >= self.trainer.max_iter:
            self._do_eval()
        # The function usually closes over the model; release it.
        del self._func


class BestCheckpointer(HookBase):
    """Saves ``<file_prefix>.pth`` whenever ``val_metric`` improves (register after EvalHook)."""

    def __init__(
        self,
        eval_period: int,
        checkpointer: Checkpointer,
        val_metric: str,
        mode: str = "max",
        file_prefix: str = "model_best",
    ):
        """Args:
        eval_period: the EvalHook's period (checks run right after each evaluation).
        checkpointer: saves the file.
        val_metric: storage scalar to watch, e.g. ``"bbox/AP"``.
        mode: ``"max"`` or ``"min"``.
        file_prefix: the file name without ``.pth``.
        """
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min'; got '{mode}'.")
        self._period = eval_period
        self._checkpointer = checkpointer
        self._val_metric = val_metric
        self._mode = mode
        self._file_prefix = file_prefix
        self.best_metric: float | None = None
        self.best_iter: int | None = None

    def _better(self, value: float) -> bool:
        if self.best_metric is None:
            return True
        return value > self.best_metric if self._mode == "max" else value < self.best_metric

    def _check(self) -> None:
        latest = self.trainer.storage.latest().get(self._val_metric)
        if latest is None:
            logger.warning(f"BestCheckpointer: no '{self._val_metric}' in the storage; skipped.")
            return
        value, metric_iter = latest
        if math.isnan(value) or not self._better(value):
            return
        previous = self.best_metric
        self.best_metric, self.best_iter = value, metric_iter
        self._checkpointer.save(self._file_prefix, iteration=metric_iter)
        logger.info(
            f"Saved {self._file_prefix}.pth: {self._val_metric}={value:.4f} at iteration "
            f"{metric_iter} (previous best: {previous})."
        )

    def after_step(self) -> None:
        if _is_period_end(self.trainer, self._period):
            self._check()

    def after_train(self) -> None:
        if self.trainer.iter >= self.trainer.max_iter:
            self._check()

    def state_dict(self) -> dict:
        if self.best_metric is None:
            return {}
        return {"best_metric": self.best_metric, "best_iter": self.best_iter}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best_metric = state_dict.get("best_metric")
        self.best_iter = state_dict.get("best_iter")


def _is_period_end(trainer, period: int) -> bool:
    """Whether the current iteration ends a period, excluding the last iteration."""
    next_iter = trainer.iter + 1
    return period > 0 and next_iter % period == 0 and next_iter != trainer.max_iter


def _flatten_results_dict(results: Mapping) -> dict[str, Any]:
    """``{"bbox": {"AP": 1}}`` -> ``{"bbox/AP": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in results.items():
        if isinstance(value, Mapping):
            for sub_key, sub_value in _flatten_results_dict(value).items():
                flat[f"{key}/{sub_key}"] = sub_value
        else:
            flat[str(key)] = value
    return flat


class EMAHook(HookBase):
    """Initializes the model EMA before training (unless resumed) and updates it every step.

    As in EVA-02, the update runs after every iteration, including iterations whose optimizer
    step the float16 GradScaler skipped.

    Args:
        cfg: the config (reads ``train.model_ema.decay`` / ``device`` and ``train.device``).
        model: the model, with ``ema_state`` from ``det.modeling.ema.may_build_model_ema``.
    """

    def __init__(self, cfg: Any, model: torch.nn.Module) -> None:
        # Imported here: importing det.modeling (every model) is not needed to train without EMA.
        from det.modeling.ema import may_build_ema_updater

        self.model = model.module if hasattr(model, "module") else model
        self.updater = may_build_ema_updater(cfg, self.model)
        self.ema = self.updater.state
        self.device = self.updater.device

    def before_train(self) -> None:
        if self.ema.has_inited():
            # Resumed: the checkpointer restored the average (on the CPU).
            self.ema.to(self.device)
        else:
            self.updater.init_state(self.model)

    def after_step(self) -> None:
        self.updater.update(self.model)
