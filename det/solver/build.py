"""Optimizer parameter groups: per-parameter lr / weight decay, merged into few groups.

Used from LazyConfig files as
``L(torch.optim.AdamW)(params=L(get_default_optimizer_params)(base_lr="${..lr}"), lr=1e-4)``;
the training script fills in ``params.model`` before instantiating the optimizer.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from torch import nn

__all__ = ["get_default_optimizer_params", "reduce_param_groups"]

# torch.nn normalization layers whose weights ``weight_decay_norm`` applies to. Layers defined
# elsewhere (e.g. det.layers.LayerNorm) are deliberately not included, as in detectron2.
_NORM_MODULE_TYPES = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.GroupNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.LayerNorm,
    nn.LocalResponseNorm,
)


def get_default_optimizer_params(
    model: nn.Module,
    base_lr: float | None = None,
    weight_decay: float | None = None,
    weight_decay_norm: float | None = None,
    bias_lr_factor: float | None = 1.0,
    weight_decay_bias: float | None = None,
    lr_factor_func: Callable[[str], float] | None = None,
    overrides: dict[str, dict[str, float]] | None = None,
) -> list[dict[str, Any]]:
    """Builds optimizer parameter groups with per-parameter hyper-parameters.

    For each trainable parameter (shared parameters counted once), in ``named_modules()``
    order, the hyper-parameters are, from lowest to highest priority:

    1. ``lr=base_lr`` and ``weight_decay`` (each only if not ``None``; otherwise the
       optimizer's own default applies);
    2. ``weight_decay_norm`` for parameters of torch.nn normalization layers;
    3. ``lr *= lr_factor_func(f"{module_name}.{param_name}")`` (layer-wise lr decay);
    4. ``overrides[param_name]``, looked up by the bare parameter name (e.g. ``"pos_embed"``),
       including the ``"bias"`` entry built from ``bias_lr_factor`` / ``weight_decay_bias``.

    Parameters with equal hyper-parameters are then merged into one group
    (:func:`reduce_param_groups`).

    Args:
        model: the model whose parameters are optimized.
        base_lr: the learning rate; required by ``bias_lr_factor != 1`` and ``lr_factor_func``.
        weight_decay: weight decay of all parameters.
        weight_decay_norm: weight decay of torch.nn normalization-layer parameters.
        bias_lr_factor: lr multiplier of parameters named ``bias``.
        weight_decay_bias: weight decay of parameters named ``bias``.
        lr_factor_func: maps a full parameter name such as ``backbone.net.blocks.3.attn.q_bias``
            to an lr multiplier (e.g. ``get_vit_lr_decay_rate``); names come from the model
            before DDP wrapping.
        overrides: bare parameter name -> hyper-parameters that replace the computed ones,
            e.g. ``{"pos_embed": {"weight_decay": 0.0}}``.

    Returns:
        list[dict]: param groups ``{"params": [Parameter, ...], "lr": ..., ...}`` for
        ``torch.optim`` optimizers.
    """
    overrides = dict(overrides or {})
    defaults: dict[str, float] = {}
    if base_lr is not None:
        defaults["lr"] = base_lr
    if weight_decay is not None:
        defaults["weight_decay"] = weight_decay
    bias_overrides: dict[str, float] = {}
    if bias_lr_factor is not None and bias_lr_factor != 1.0:
        if base_lr is None:
            raise ValueError("bias_lr_factor != 1.0 needs base_lr to be set.")
        bias_overrides["lr"] = base_lr * bias_lr_factor
    if weight_decay_bias is not None:
        bias_overrides["weight_decay"] = weight_decay_bias
    if bias_overrides:
        if "bias" in overrides:
            raise ValueError(
                "Conflicting overrides for 'bias': give either overrides['bias'] or "
                "bias_lr_factor / weight_decay_bias, not both."
            )
        overrides["bias"] = bias_overrides
    if lr_factor_func is not None and base_lr is None:
        raise ValueError("lr_factor_func needs base_lr to be set.")

    params: list[dict[str, Any]] = []
    seen: set[int] = set()
    for module_name, module in model.named_modules():
        for param_name, value in module.named_parameters(recurse=False):
            if not value.requires_grad or id(value) in seen:
                continue
            seen.add(id(value))
            hyperparams = copy.copy(defaults)
            if isinstance(module, _NORM_MODULE_TYPES) and weight_decay_norm is not None:
                hyperparams["weight_decay"] = weight_decay_norm
            if lr_factor_func is not None:
                hyperparams["lr"] *= lr_factor_func(f"{module_name}.{param_name}")
            hyperparams.update(overrides.get(param_name, {}))
            params.append({"params": [value], **hyperparams})
    return reduce_param_groups(params)


def reduce_param_groups(params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merges parameter groups that have identical hyper-parameters.

    Args:
        params: param groups, each ``{"params": [...], <hyper-parameters>}``; a group's
            optional ``"param_names"`` list is merged alongside its ``"params"``.

    Returns:
        list[dict]: one group per distinct hyper-parameter set, in order of first appearance,
        each holding its parameters in their original order.
    """
    merged: dict[tuple, dict[str, Any]] = {}
    for group in params:
        hyperparams = {k: v for k, v in group.items() if k not in ("params", "param_names")}
        key = tuple(sorted(hyperparams.items()))
        if key not in merged:
            merged[key] = {"params": [], **hyperparams}
            if "param_names" in group:
                merged[key]["param_names"] = []
        target = merged[key]
        target["params"].extend(group["params"])
        if "param_names" in group:
            target.setdefault("param_names", []).extend(group["param_names"])
    return list(merged.values())
