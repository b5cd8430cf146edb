"""Model EMA: an exponential moving average of the weights, as EVA-02 trains and evaluates it.

Config keys (``train.model_ema``): ``enabled``, ``decay`` (0.9999 in EVA-02), ``device`` (where
the average lives; "" means ``train.device``), ``use_ema_weights_for_eval_only`` (``--eval-only``
evaluates the checkpoint's EMA weights).

The average covers every parameter **and buffer** of the (DDP-unwrapped) model, keyed by
PyTorch's de-duplicated names, as in the fork (whose checkpoints therefore also hold
``pixel_mean``, anchors and RoPE tables). It is saved as ``"ema_state"`` in every checkpoint
next to ``"model"`` and restored on ``--resume``. It is updated after every iteration with a
constant decay: ``ema = decay * ema + (1 - decay) * weight``.

Unlike the fork, applying an empty state (a checkpoint saved without EMA) is a clear error
instead of an assertion, and buffers a checkpoint lacks (or has in another shape, e.g. RoPE
tables of another image size) keep the model's values.

The training hook that drives it is ``det.engine.hooks.EMAHook`` (engine imports modeling, not
the other way round).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from det.utils.errors import UserError

__all__ = [
    "EMAState",
    "EMAUpdater",
    "apply_model_ema",
    "apply_model_ema_and_restore",
    "may_build_ema_updater",
    "may_build_model_ema",
    "may_get_ema_checkpointer",
]

logger = logging.getLogger(__name__)

_ATTR = "ema_state"
# Dtypes averaged with one fused foreach call (as the fork does); other floats one by one.
_FOREACH_DTYPES = (torch.float32, torch.float16)


class EMAStateError(UserError):
    """The EMA weights cannot be applied (missing or incompatible ``ema_state``)."""


def _unwrap(model: nn.Module) -> nn.Module:
    if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        return model.module
    return model


def _model_tensors(model: nn.Module) -> Iterator[tuple[str, torch.Tensor, bool]]:
    """(name, tensor, is_parameter) for every parameter and buffer, de-duplicated."""
    model = _unwrap(model)
    params = ((n, p, True) for n, p in model.named_parameters())
    buffers = ((n, b, False) for n, b in model.named_buffers())
    return itertools.chain(params, buffers)


class EMAState:
    """The averaged tensors: ``state`` maps a parameter / buffer name to a tensor.

    Not an ``nn.Module``: it is saved through the checkpointer as ``"ema_state"`` and never
    seen by the optimizer or DDP.
    """

    def __init__(self) -> None:
        self.state: dict[str, torch.Tensor] = {}

    @classmethod
    def FromModel(cls, model: nn.Module, device: str | torch.device | None = None) -> EMAState:  # noqa: N802
        """A state holding a copy of ``model``'s current tensors (on ``device`` if given)."""
        ret = cls()
        ret.save_from(model, device)
        return ret

    def save_from(self, model: nn.Module, device: str | torch.device | None = None) -> None:
        """Copy every parameter and buffer of ``model`` (detached) into the state."""
        for name, val, _ in _model_tensors(model):
            copy = val.detach().clone()
            self.state[name] = copy.to(device) if device else copy

    def apply_to(self, model: nn.Module) -> None:
        """Copy the averaged tensors into ``model`` (in place, no autograd).

        Raises:
            EMAStateError: if the state is empty, or a parameter is missing or has another
                shape. Buffers that are missing or differ in shape keep the model's values.
        """
        if not self.state:
            raise EMAStateError(
                "No EMA weights to apply: the EMA state is empty. The checkpoint loaded "
                "(train.init_checkpoint) has no 'ema_state' entry, i.e. it was not saved with "
                "train.model_ema.enabled=True. Remove "
                "train.model_ema.use_ema_weights_for_eval_only=True to evaluate its weights."
            )
        skipped = []
        with torch.no_grad():
            for name, val, is_param in _model_tensors(model):
                ema = self.state.get(name)
                if ema is None or ema.shape != val.shape:
                    if is_param:
                        found = "missing" if ema is None else f"of shape {tuple(ema.shape)}"
                        raise EMAStateError(
                            f"The EMA state does not fit the model: parameter '{name}' "
                            f"{tuple(val.shape)} is {found} in 'ema_state' (was the checkpoint "
                            "trained with another config?)"
                        )
                    skipped.append(name)
                    continue
                val.copy_(ema)
        if skipped:
            logger.info(f"EMA: kept the model's values of buffers not in the EMA state: {skipped}")

    def has_inited(self) -> bool:
        """Whether the state holds any tensor."""
        return bool(self.state)

    def clear(self) -> EMAState:
        """Drop every tensor."""
        self.state.clear()
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The flat ``name -> tensor`` dict saved as ``"ema_state"``."""
        return self.state

    def load_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Replace the state by ``state_dict`` (e.g. a checkpoint's ``"ema_state"``)."""
        if not isinstance(state_dict, dict):
            raise EMAStateError(
                f"A checkpoint's 'ema_state' must be a dict of tensors, got "
                f"{type(state_dict).__name__}"
            )
        self.clear()
        self.state.update(state_dict)

    def to(self, device: str | torch.device) -> EMAState:
        """Move every tensor to ``device`` (in place); returns self."""
        self.state = {k: v.to(device) for k, v in self.state.items()}
        return self

    @property
    def device(self) -> torch.device | None:
        """Device of the tensors (None when empty)."""
        return next(iter(self.state.values())).device if self.state else None

    def __repr__(self) -> str:
        return f"EMAState(num_tensors={len(self.state)}, device={self.device})"


class EMAUpdater:
    """Updates an :class:`EMAState` from a model: ``ema = decay * ema + (1 - decay) * x``.

    Args:
        state: the state to update.
        decay: constant decay (no warm-up, as in EVA-02).
        device: where the state lives ("" or None: where the model's tensors are).
    """

    def __init__(
        self, state: EMAState, decay: float = 0.999, device: str | torch.device | None = ""
    ) -> None:
        self.state = state
        self.decay = decay
        self.device = device or None

    def init_state(self, model: nn.Module) -> None:
        """Reset the state to a copy of ``model``'s tensors."""
        self.state.clear()
        self.state.save_from(model, self.device)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One EMA step from ``model``'s current tensors (parameters and buffers)."""
        fused_ema, fused_cur = [], []
        for name, val, _ in _model_tensors(model):
            ema = self.state.state.get(name)
            cur = val.detach()
            if ema is None or ema.shape != cur.shape:
                # E.g. a resumed fork checkpoint without some buffer: start it from the model.
                logger.warning(f"EMA: '{name}' not in the EMA state; starting it from the model.")
                self.state.state[name] = cur.clone().to(self.device or cur.device)
                continue
            cur = cur.to(ema.device)
            if cur.dtype in _FOREACH_DTYPES:
                fused_ema.append(ema)
                fused_cur.append(cur)
            elif cur.is_floating_point():
                ema.copy_(ema * self.decay + cur * (1.0 - self.decay))
            else:
                # Integer buffers (counters) have no meaningful average.
                ema.copy_(cur)
        if fused_ema:
            torch._foreach_mul_(fused_ema, self.decay)
            torch._foreach_add_(fused_ema, fused_cur, alpha=1.0 - self.decay)


def _ema_cfg(cfg: Any, key: str, default: Any) -> Any:
    from omegaconf import OmegaConf

    value = OmegaConf.select(cfg, f"train.model_ema.{key}", default=default)
    return default if value is None else value


def _ema_enabled(cfg: Any) -> bool:
    return bool(_ema_cfg(cfg, "enabled", False))


def _get_state(model: nn.Module) -> EMAState:
    state = getattr(_unwrap(model), _ATTR, None)
    if not isinstance(state, EMAState):
        raise RuntimeError(
            "The model has no EMA state: call may_build_model_ema(cfg, model) with "
            "train.model_ema.enabled=True first"
        )
    return state


def may_build_model_ema(cfg: Any, model: nn.Module) -> None:
    """Attach an empty ``ema_state`` (:class:`EMAState`) to the (unwrapped) model when
    ``train.model_ema.enabled``. ``ema_state`` is a reserved attribute name."""
    if not _ema_enabled(cfg):
        return
    model = _unwrap(model)
    existing = getattr(model, _ATTR, None)
    if existing is not None and not isinstance(existing, EMAState):
        raise RuntimeError(f"Model attribute '{_ATTR}' is reserved for the EMA state")
    setattr(model, _ATTR, EMAState())
    logger.info("Using model EMA (train.model_ema.enabled=True).")


def may_get_ema_checkpointer(cfg: Any, model: nn.Module) -> dict[str, EMAState]:
    """``{"ema_state": state}`` to pass to the checkpointer when EMA is enabled, else ``{}``."""
    if not _ema_enabled(cfg):
        return {}
    return {_ATTR: _get_state(model)}


def apply_model_ema(
    model: nn.Module, state: EMAState | None = None, save_current: bool = False
) -> EMAState | None:
    """Copy the EMA weights into ``model`` (for good; see :func:`apply_model_ema_and_restore`).

    Args:
        model: the (possibly DDP-wrapped) model.
        state: the EMA state (default: the model's ``ema_state``).
        save_current: return a copy of the weights being replaced.

    Returns:
        The replaced weights (an :class:`EMAState` on the EMA state's device) if
        ``save_current``, else None.

    Raises:
        EMAStateError: if the state is empty (the checkpoint had no ``ema_state``) or does not
            fit the model.
    """
    state = _get_state(model) if state is None else state
    old = EMAState.FromModel(model, state.device) if save_current else None
    state.apply_to(model)
    return old


@contextlib.contextmanager
def apply_model_ema_and_restore(
    model: nn.Module, state: EMAState | None = None
) -> Iterator[EMAState | None]:
    """Within the context, ``model`` has the EMA weights; afterwards its own weights return.

    Example::

        with apply_model_ema_and_restore(model):
            results = inference_on_dataset(model, loader, evaluator)
    """
    state = _get_state(model) if state is None else state
    old = apply_model_ema(model, state, save_current=True)
    try:
        yield old
    finally:
        old.apply_to(model)


def may_build_ema_updater(cfg: Any, model: nn.Module) -> EMAUpdater:
    """The updater of ``model``'s EMA state with the config's decay and device.

    Args:
        cfg: the config (reads ``train.model_ema.decay`` / ``device`` and ``train.device``).
        model: the model (or its DDP wrapper), with ``ema_state`` from
            :func:`may_build_model_ema`.

    Raises:
        UserError: the EMA device is CUDA but CUDA is not available.
    """
    device = str(_ema_cfg(cfg, "device", "")) or str(cfg.train.device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(
            f"train.model_ema.device='{device}' but CUDA is not available; set "
            "train.model_ema.device='' (the model's device, train.device) or 'cpu'."
        )
    return EMAUpdater(_get_state(model), decay=float(_ema_cfg(cfg, "decay", 0.9999)), device=device)
