"""Parameter groups with the semantics of mmcv's ``DefaultOptimizerConstructor`` and its
``paramwise_cfg.custom_keys`` (ViT-Adapter's AugReg-B card: no weight decay for ``norm`` /
``bias`` / ``pos_embed`` / ``level_embed``, 10x lr for ``head``).

mmcv matches every key as a substring of the full parameter name, trying the keys longest
first and alphabetically among equal lengths, and applies only the first match; parameters
that match no key keep the base lr and weight decay (norms and biases included). So with the
card's keys ``decode_head.conv_seg.bias`` matches ``bias`` before ``head`` and gets no decay
and no 10x lr, exactly as in the published run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from det.solver.build import reduce_param_groups

__all__ = ["get_mmcv_custom_keys_params", "mmcv_custom_key"]

_ALLOWED = ("lr_mult", "decay_mult")


def mmcv_custom_key(name: str, custom_keys: Mapping[str, Mapping[str, float]]) -> str | None:
    """The key of ``custom_keys`` that mmcv applies to parameter ``name``, or None."""
    for key in sorted(sorted(custom_keys), key=len, reverse=True):
        if key in name:
            return key
    return None


def get_mmcv_custom_keys_params(
    model: nn.Module,
    base_lr: float,
    weight_decay: float,
    custom_keys: Mapping[str, Mapping[str, float]],
) -> list[dict[str, Any]]:
    """Optimizer param groups of mmcv's ``DefaultOptimizerConstructor`` with ``custom_keys``.

    Args:
        model: the model (before DDP wrapping). Names are det's; the keys are substrings, so
            they match det names wherever det keeps the published module names.
        base_lr: the optimizer's lr.
        weight_decay: the optimizer's weight decay.
        custom_keys: substring -> ``{"lr_mult": float, "decay_mult": float}`` (either may be
            left out, meaning 1).

    Returns:
        list[dict]: ``{"params", "lr", "weight_decay"}`` groups, trainable parameters only.
    """
    for key, cfg in custom_keys.items():
        unknown = sorted(set(cfg) - set(_ALLOWED))
        if unknown:
            raise ValueError(
                f"get_mmcv_custom_keys_params: custom_keys['{key}'] has {unknown}; expected "
                f"only {list(_ALLOWED)}"
            )
    groups = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        key = mmcv_custom_key(name, custom_keys)
        cfg = custom_keys[key] if key is not None else {}
        groups.append(
            {
                "params": [param],
                "lr": base_lr * float(cfg.get("lr_mult", 1.0)),
                "weight_decay": weight_decay * float(cfg.get("decay_mult", 1.0)),
            }
        )
    return reduce_param_groups(groups)
