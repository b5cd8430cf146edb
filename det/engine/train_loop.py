"""The training loop: a trainer runs iterations and calls hooks around each of them.

``TrainerBase.train(start_iter, max_iter)`` opens an :class:`EventStorage` and calls, for the
registered hooks in order, ``before_train``; then per iteration ``before_step``, the trainer's
``run_step`` (which calls ``after_backward``), ``after_step``; and finally ``after_train``.
"""

from __future__ import annotations

import concurrent.futures
import inspect
import logging
import math
import time
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from det.utils import comm
from det.utils.errors import UserError
from det.utils.events import EventStorage, get_event_storage

__all__ = ["AMPTrainer", "HookBase", "SimpleTrainer", "TrainerBase"]

logger = logging.getLogger(__name__)


class HookBase:
    """Base class of hooks that :class:`TrainerBase` calls around training and each iteration.

    A hook reaches the trainer (and through it the model, optimizer, storage and iteration) as
    ``self.trainer``, a weak proxy set by :meth:`TrainerBase.register_hooks`. Hooks that have
    state worth resuming implement :meth:`state_dict` / ``load_state_dict``; it is saved in the
    trainer's checkpoint under the hook's class name.
    """

    trainer: TrainerBase

    def before_train(self) -> None:
        """Called once before the first iteration."""

    def after_train(self) -> None:
        """Called once after the last iteration, also when training failed."""

    def before_step(self) -> None:
        """Called before each iteration."""

    def after_backward(self) -> None:
        """Called after the backward pass of each iteration, before the optimizer step."""

    def after_step(self) -> None:
        """Called after each iteration."""

    def state_dict(self) -> dict:
        """Returns the hook's resumable state (empty by default)."""
        return {}


class TrainerBase:
    """Iteration-based trainer with hooks.

    Attributes:
        iter (int): the current iteration.
        start_iter (int): the iteration training started (or resumed) at.
        max_iter (int): training stops before this iteration.
        storage (EventStorage): the storage opened for the duration of :meth:`train`.
    """

    def __init__(self) -> None:
        self._hooks: list[HookBase] = []
        self.iter: int = 0
        self.start_iter: int = 0
        self.max_iter: int = 0
        self.storage: EventStorage

    def register_hooks(self, hooks: Iterable[HookBase | None]) -> None:
        """Appends hooks (``None`` entries are skipped); they run in registration order.

        Args:
            hooks: hook objects.
        """
        hooks = [h for h in hooks if h is not None]
        for h in hooks:
            if not isinstance(h, HookBase):
                raise TypeError(f"Expected a HookBase, got {type(h).__name__}.")
            # A weak proxy avoids a trainer <-> hook reference cycle.
            h.trainer = weakref.proxy(self)
        self._hooks.extend(hooks)

    def train(self, start_iter: int, max_iter: int) -> None:
        """Runs iterations ``start_iter .. max_iter - 1``.

        Args:
            start_iter: the first iteration (``trainer.iter + 1`` after resuming).
            max_iter: training stops before this iteration.
        """
        logger.info(f"Starting training from iteration {start_iter}")
        self.iter = self.start_iter = start_iter
        self.max_iter = max_iter
        with EventStorage(start_iter) as self.storage:
            try:
                self.before_train()
                for self.iter in range(start_iter, max_iter):
                    self.before_step()
                    self.run_step()
                    self.after_step()
                # After a complete run, iter == max_iter: after_train hooks use this to tell
                # a finished run from a failed one (where iter is the failing iteration).
                self.iter += 1
            except UserError as e:
                logger.error(f"Training stopped at iteration {self.iter}: {e}")
                raise
            except Exception:
                logger.exception(f"Exception during training at iteration {self.iter}:")
                raise
            finally:
                self.after_train()

    def before_train(self) -> None:
        for h in self._hooks:
            h.before_train()

    def after_train(self) -> None:
        self.storage.iter = self.iter
        for h in self._hooks:
            h.after_train()

    def before_step(self) -> None:
        self.storage.iter = self.iter
        for h in self._hooks:
            h.before_step()

    def after_backward(self) -> None:
        for h in self._hooks:
            h.after_backward()

    def after_step(self) -> None:
        for h in self._hooks:
            h.after_step()

    def run_step(self) -> None:
        """Runs one iteration; implemented by subclasses."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Returns ``{"iteration": int, "hooks": {hook class name: state}}``."""
        ret: dict[str, Any] = {"iteration": self.iter}
        hooks_state = {}
        for h in self._hooks:
            state = h.state_dict()
            if state:
                name = type(h).__qualname__
                if name in hooks_state:
                    # Two hooks of one class cannot be told apart when loading.
                    continue
                hooks_state[name] = state
        if hooks_state:
            ret["hooks"] = hooks_state
        return ret

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restores the iteration and the hooks' states saved by :meth:`state_dict`."""
        self.iter = state_dict["iteration"]
        for key, value in state_dict.get("hooks", {}).items():
            for h in self._hooks:
                if type(h).__qualname__ == key:
                    h.load_state_dict(value)  # type: ignore[attr-defined]
                    break
            else:
                logger.warning(f"Cannot find the hook '{key}'; its saved state is ignored.")


class SimpleTrainer(TrainerBase):
    """Trainer for the common case: one optimizer, a model that returns a dict of losses.

    Each iteration: read a batch, compute ``losses = sum(model(batch).values())``, backward,
    (optionally) clip gradients, record the losses, step the optimizer. A NaN or infinite loss
    raises :class:`FloatingPointError` naming the iteration and every loss value.
    """

    def __init__(
        self,
        model: nn.Module,
        data_loader: Iterable,
        optimizer: torch.optim.Optimizer,
        gather_metric_period: int = 1,
        zero_grad_before_forward: bool = False,
        async_write_metrics: bool = False,
        clip_grad_norm: float | None = None,
    ):
        """Args:
        model: in training mode it takes a batch from ``data_loader`` and returns a dict of
            scalar loss tensors (or a single scalar loss).
        data_loader: an iterable of batches; it is iterated indefinitely (it must not end).
        optimizer: the optimizer.
        gather_metric_period: record (and NaN-check) the losses every this many iterations;
            with several processes this involves a small all-gather.
        zero_grad_before_forward: zero the gradients before the forward pass instead of
            right before the backward pass (useful when the forward pass uses the gradients).
        async_write_metrics: record the losses in a background thread; a NaN/inf loss is then
            reported at the next iteration.
        clip_grad_norm: if set, clip the global L2 norm of the gradients to this value.
        """
        super().__init__()
        model.train()
        self.model = model
        self.data_loader = data_loader
        self._data_loader_iter_obj = None
        self.optimizer = optimizer
        self.gather_metric_period = gather_metric_period
        self.zero_grad_before_forward = zero_grad_before_forward
        self.async_write_metrics = async_write_metrics
        self.clip_grad_norm = clip_grad_norm
        self.concurrent_executor = (
            concurrent.futures.ThreadPoolExecutor(max_workers=1) if async_write_metrics else None
        )
        self._pending_metrics: concurrent.futures.Future | None = None

    @property
    def _data_loader_iter(self):
        # Created on first use so that building the trainer does not start loader workers.
        if self._data_loader_iter_obj is None:
            self._data_loader_iter_obj = iter(self.data_loader)
        return self._data_loader_iter_obj

    def run_step(self) -> None:
        if not self.model.training:
            raise RuntimeError(f"{type(self).__name__}: the model was switched to eval mode.")
        start = time.perf_counter()
        data = next(self._data_loader_iter)
        data_time = time.perf_counter() - start
        if self.zero_grad_before_forward:
            self.optimizer.zero_grad()
        losses, loss_dict = self._forward(data)
        if not self.zero_grad_before_forward:
            self.optimizer.zero_grad()
        self._backward_and_step(losses, loss_dict, data_time)

    def _forward(self, data: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return _sum_losses(self.model(data))

    def _backward_and_step(
        self, losses: torch.Tensor, loss_dict: dict[str, torch.Tensor], data_time: float
    ) -> None:
        losses.backward()
        self.after_backward()
        self._clip_gradients()
        self._record_metrics(loss_dict, data_time)
        self.optimizer.step()

    def _clip_gradients(self) -> None:
        if self.clip_grad_norm is None:
            return
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        params = [p for p in params if p.grad is not None]
        if params:
            torch.nn.utils.clip_grad_norm_(params, self.clip_grad_norm)

    def _record_metrics(self, loss_dict: dict[str, torch.Tensor], data_time: float) -> None:
        if self.concurrent_executor is None:
            self._write_metrics(loss_dict, data_time, cur_iter=self.iter)
            return
        if self._pending_metrics is not None:
            self._pending_metrics.result()  # re-raises the previous iteration's error
        detached = {k: v.detach() for k, v in loss_dict.items()}
        self._pending_metrics = self.concurrent_executor.submit(
            self._write_metrics, detached, data_time, cur_iter=self.iter
        )

    def after_train(self) -> None:
        try:
            if self._pending_metrics is not None:
                self._pending_metrics.result()
                self._pending_metrics = None
        finally:
            super().after_train()

    def _write_metrics(
        self,
        loss_dict: Mapping[str, torch.Tensor],
        data_time: float,
        prefix: str = "",
        cur_iter: int | None = None,
    ) -> None:
        cur_iter = self.iter if cur_iter is None else cur_iter
        if (cur_iter + 1) % self.gather_metric_period == 0 or cur_iter == self.max_iter - 1:
            self.write_metrics(loss_dict, data_time, cur_iter, prefix)

    @staticmethod
    def write_metrics(
        loss_dict: Mapping[str, torch.Tensor],
        data_time: float,
        cur_iter: int,
        prefix: str = "",
    ) -> None:
        """Records the losses (averaged over processes) and the data time in the storage.

        Args:
            loss_dict: loss name -> scalar Tensor[].
            data_time: seconds spent waiting for the batch.
            cur_iter: the iteration, recorded with the values and named in errors.
            prefix: prepended to the names (e.g. ``"val_"``).

        Raises:
            FloatingPointError: on every process, if any process has a NaN/inf loss.
        """
        metrics = {k: float(v.detach().cpu().item()) for k, v in loss_dict.items()}
        metrics["data_time"] = data_time
        all_metrics = comm.all_gather(metrics)
        _check_finite(all_metrics, cur_iter)
        if not comm.is_main_process():
            return
        storage = get_event_storage()
        data_time = max(m.pop("data_time") for m in all_metrics)
        storage.put_scalar("data_time", data_time, cur_iter=cur_iter)
        averaged = {k: sum(m[k] for m in all_metrics) / len(all_metrics) for k in all_metrics[0]}
        storage.put_scalar(f"{prefix}total_loss", sum(averaged.values()), cur_iter=cur_iter)
        if len(averaged) > 1:
            storage.put_scalars(cur_iter=cur_iter, **{prefix + k: v for k, v in averaged.items()})

    def state_dict(self) -> dict[str, Any]:
        """Adds ``"optimizer"`` to :meth:`TrainerBase.state_dict`."""
        ret = super().state_dict()
        ret["optimizer"] = self.optimizer.state_dict()
        return ret

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.optimizer.load_state_dict(state_dict["optimizer"])


def _sum_losses(loss_dict: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    if isinstance(loss_dict, torch.Tensor):
        return loss_dict, {"total_loss": loss_dict}
    if not isinstance(loss_dict, Mapping) or not loss_dict:
        raise TypeError(
            "In training mode the model must return a non-empty dict of scalar losses (or one "
            f"scalar loss); got {type(loss_dict).__name__}."
        )
    loss_dict = dict(loss_dict)
    return sum(loss_dict.values()), loss_dict


def _check_finite(all_metrics: list[dict[str, float]], cur_iter: int) -> None:
    bad = [
        (rank, m)
        for rank, m in enumerate(all_metrics)
        if not all(math.isfinite(v) for k, v in m.items() if k != "data_time")
    ]
    if not bad:
        return
    per_rank = "; ".join(
        (f"rank {rank}: " if len(all_metrics) > 1 else "")
        + ", ".join(f"{k}={v:.6g}" for k, v in m.items() if k != "data_time")
        for rank, m in bad
    )
    raise FloatingPointError(
        f"Loss became infinite or NaN at iteration={cur_iter}! Losses: {per_rank}. Common "
        "causes: a learning rate too high for the batch size (scale lr with the total batch), "
        "fp16 overflow (try train.amp.precision='bfloat16' or gradient clipping), or bad "
        "annotations."
    )


class AMPTrainer(SimpleTrainer):
    """:class:`SimpleTrainer` with automatic mixed precision (``torch.autocast``).

    ``float16`` scales the loss with a ``GradScaler`` (skipping steps whose gradients
    overflow); ``bfloat16`` has the range of float32 and needs no scaler. The autocast device
    is that of the model's parameters, so this also runs on CPU (bfloat16).
    """

    def __init__(
        self,
        model: nn.Module,
        data_loader: Iterable,
        optimizer: torch.optim.Optimizer,
        gather_metric_period: int = 1,
        zero_grad_before_forward: bool = False,
        grad_scaler: torch.amp.GradScaler | None = None,
        precision: torch.dtype | str = torch.float16,
        log_grad_scaler: bool = False,
        async_write_metrics: bool = False,
        clip_grad_norm: float | None = None,
        grad_scaler_args: Mapping[str, Any] | None = None,
    ):
        """Args:
        model, data_loader, optimizer, gather_metric_period, zero_grad_before_forward,
        async_write_metrics, clip_grad_norm: as in :class:`SimpleTrainer`.
        grad_scaler: scaler for float16 (default: a new ``torch.amp.GradScaler``); must be
            ``None`` for bfloat16.
        grad_scaler_args: keyword arguments of the default scaler, e.g. ``{"init_scale":
            512}`` for mmcv's ``fp16 = dict(loss_scale=dict(init_scale=512))``; ignored (with
            a warning) for bfloat16.
        precision: ``torch.float16`` / ``torch.bfloat16`` or their names
            (``"float16"``, ``"fp16"``, ``"bfloat16"``, ``"bf16"``).
        log_grad_scaler: record the loss scale as ``[metric]grad_scaler`` each iteration.
        """
        super().__init__(
            model,
            data_loader,
            optimizer,
            gather_metric_period=gather_metric_period,
            zero_grad_before_forward=zero_grad_before_forward,
            async_write_metrics=async_write_metrics,
            clip_grad_norm=clip_grad_norm,
        )
        self.precision = _parse_precision(precision)
        param = next(model.parameters(), None)
        self.device_type = param.device.type if param is not None else "cpu"
        if self.precision == torch.bfloat16:
            if grad_scaler is not None:
                raise ValueError("bfloat16 training needs no GradScaler; pass grad_scaler=None.")
            if grad_scaler_args:
                # Cards set the scaler for their float16 recipe; a bf16 override keeps working.
                logger.warning(
                    f"bfloat16 training has no GradScaler; ignoring grad_scaler_args "
                    f"{dict(grad_scaler_args)} (train.amp.grad_scaler)."
                )
        elif grad_scaler is None:
            grad_scaler = _make_grad_scaler(self.device_type, grad_scaler_args or {})
        elif grad_scaler_args:
            raise ValueError("Pass either grad_scaler or grad_scaler_args, not both.")
        self.grad_scaler = grad_scaler
        self.log_grad_scaler = log_grad_scaler

    def _forward(self, data: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        with torch.autocast(self.device_type, dtype=self.precision):
            return super()._forward(data)

    def _backward_and_step(
        self, losses: torch.Tensor, loss_dict: dict[str, torch.Tensor], data_time: float
    ) -> None:
        if self.grad_scaler is None:
            super()._backward_and_step(losses, loss_dict, data_time)
            return
        self.grad_scaler.scale(losses).backward()
        self.after_backward()
        if self.clip_grad_norm is not None:
            # Clipping must see the true gradients, not the scaled ones.
            self.grad_scaler.unscale_(self.optimizer)
            self._clip_gradients()
        if self.log_grad_scaler:
            self.storage.put_scalar("[metric]grad_scaler", self.grad_scaler.get_scale())
        self._record_metrics(loss_dict, data_time)
        self.grad_scaler.step(self.optimizer)
        self.grad_scaler.update()

    def state_dict(self) -> dict[str, Any]:
        """Adds ``"grad_scaler"`` (float16 only) to :meth:`SimpleTrainer.state_dict`."""
        ret = super().state_dict()
        if self.grad_scaler is not None:
            ret["grad_scaler"] = self.grad_scaler.state_dict()
        return ret

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        super().load_state_dict(state_dict)
        if self.grad_scaler is not None and "grad_scaler" in state_dict:
            self.grad_scaler.load_state_dict(state_dict["grad_scaler"])


def _make_grad_scaler(device_type: str, args: Mapping[str, Any]) -> torch.amp.GradScaler:
    accepted = set(inspect.signature(torch.amp.GradScaler).parameters) - {"device", "enabled"}
    unknown = sorted(set(args) - accepted)
    if unknown:
        raise ValueError(
            f"train.amp.grad_scaler: unknown keys {unknown}; torch.amp.GradScaler accepts "
            f"{sorted(accepted)}."
        )
    return torch.amp.GradScaler(device_type, **args)


_PRECISIONS = {
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


def _parse_precision(precision: torch.dtype | str) -> torch.dtype:
    if isinstance(precision, str):
        key = precision.removeprefix("torch.")
        if key not in _PRECISIONS:
            raise ValueError(
                f"Unknown AMP precision '{precision}'; expected one of {sorted(_PRECISIONS)}."
            )
        precision = _PRECISIONS[key]
    if precision not in (torch.float16, torch.bfloat16):
        raise ValueError(f"AMP precision must be float16 or bfloat16; got {precision}.")
    return precision
