"""Layer-wise lr decay with the semantics of mmseg's ``LayerDecayOptimizerConstructor``.

The constructor used by BEiT, ViT-Adapter, EVA-01 and CAE segmentation (their
``mmcv_custom/layer_decay_optimizer_constructor.py``) gives every parameter a layer id:

* 0: the ViT's ``cls_token``, ``mask_token``, ``pos_embed`` and ``patch_embed.*``, plus the
  head parameters listed in ``layer0_prefixes`` (EVA-01 / ViT-Adapter Mask2Former put the
  decoder's ``query_feat``, ``query_embed``, ``level_embed``, class head and mask MLP there, so
  they train at the smallest lr);
* ``i + 1``: the ViT's ``blocks.{i}.*``;
* ``num_layers + 1``: everything else (the ViT's final norm or shared relative position bias,
  adapter modules, necks, decode heads).

The lr of a parameter is ``base_lr * layer_decay_rate ** (num_layers + 1 - layer_id)``. Weight
decay is 0 for every 1-D parameter and every name ending in ``.bias`` (so layer-scale gammas,
``q_bias`` / ``v_bias`` and norms get none, while ``pos_embed``, ``cls_token`` and relative
position tables keep it: the constructor's bare-name check never matches prefixed names).

det names differ from mmseg's only by prefix, which is an argument: the ViT's parameters sit
under ``vit_prefix`` (``"backbone."`` for a bare ViT backbone, ``"backbone.vit."`` inside a
:class:`det.modeling.backbone.ViTAdapter`, ``"backbone.net."`` inside a feature pyramid) and
the layer-0 head parameters are given by full-name prefixes, e.g. for det's Mask2Former::

    layer0_prefixes=[f"sem_seg_head.predictor.{n}" for n in
                     ("query_feat", "query_embed", "level_embed", "class_embed", "mask_embed")]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from det.solver.build import reduce_param_groups

__all__ = ["get_layer_decay_optimizer_params", "get_layer_id", "get_layer_decay_lr_scale"]

# The ViT's embedding parameters (layer 0), relative to ``vit_prefix``.
_EMBED_NAMES = ("cls_token", "mask_token", "pos_embed", "patch_embed")


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def get_layer_id(
    name: str,
    num_layers: int,
    vit_prefix: str = "backbone.",
    layer0_prefixes: Sequence[str] = (),
) -> int:
    """Layer id of one parameter (see the module docstring).

    Args:
        name: full parameter name, e.g. ``backbone.vit.blocks.3.attn.qkv.weight``.
        num_layers: number of ViT blocks (mmseg's ``paramwise_cfg.num_layers``).
        vit_prefix: prefix of the ViT's parameter names, ending with ``.``.
        layer0_prefixes: full-name prefixes (module or parameter names) outside the ViT that
            also get id 0.

    Returns:
        An int in ``[0, num_layers + 1]``.

    Raises:
        ValueError: a ``blocks.{i}`` with ``i >= num_layers`` (``num_layers`` is too small).
    """
    if any(_matches(name, vit_prefix + e) for e in _EMBED_NAMES):
        return 0
    if any(_matches(name, p) for p in layer0_prefixes):
        return 0
    blocks = vit_prefix + "blocks."
    if name.startswith(blocks):
        index = int(name[len(blocks) :].split(".", 1)[0])
        if index >= num_layers:
            raise ValueError(
                f"layer decay: parameter '{name}' is in block {index} but num_layers="
                f"{num_layers}; set num_layers to the ViT depth (at least {index + 1})"
            )
        return index + 1
    return num_layers + 1


def get_layer_decay_lr_scale(
    name: str,
    layer_decay_rate: float,
    num_layers: int,
    vit_prefix: str = "backbone.",
    layer0_prefixes: Sequence[str] = (),
) -> float:
    """``layer_decay_rate ** (num_layers + 1 - layer_id)``; arguments as :func:`get_layer_id`.

    Usable as ``lr_factor_func`` of :func:`det.solver.get_default_optimizer_params` (through
    ``functools.partial``) when the mmseg weight-decay rule is not wanted.
    """
    layer_id = get_layer_id(name, num_layers, vit_prefix, layer0_prefixes)
    return layer_decay_rate ** (num_layers + 1 - layer_id)


def get_layer_decay_optimizer_params(
    model: nn.Module,
    base_lr: float,
    weight_decay: float,
    layer_decay_rate: float,
    num_layers: int,
    vit_prefix: str = "backbone.",
    layer0_prefixes: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Optimizer param groups of mmseg's ``LayerDecayOptimizerConstructor``.

    Used from LazyConfig files as ``L(torch.optim.AdamW)(params=L(
    get_layer_decay_optimizer_params)(base_lr="${..lr}", weight_decay=0.05,
    layer_decay_rate=0.9, num_layers=24, vit_prefix="backbone.vit."), lr=2e-5, ...)``; the
    training script fills in ``params.model``. Each group's ``lr`` is already scaled, which
    :class:`det.solver.LRMultiplier` keeps (it multiplies each group's initial lr).

    Args:
        model: the model (before DDP wrapping, so names have no ``module.`` prefix).
        base_lr: the optimizer's lr.
        weight_decay: weight decay of parameters that are neither 1-D nor ``.bias``.
        layer_decay_rate: lr decay per layer (e.g. 0.9 or 0.95; 1.0 disables).
        num_layers: number of ViT blocks.
        vit_prefix: prefix of the ViT's parameter names.
        layer0_prefixes: head parameters trained at the embedding layer's lr.

    Returns:
        list[dict]: ``{"params", "lr", "weight_decay"}`` groups, one per distinct pair,
        trainable parameters only, each parameter once.
    """
    groups = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        no_decay = param.ndim == 1 or name.endswith(".bias")
        scale = get_layer_decay_lr_scale(
            name, layer_decay_rate, num_layers, vit_prefix, layer0_prefixes
        )
        groups.append(
            {
                "params": [param],
                "lr": base_lr * scale,
                "weight_decay": 0.0 if no_decay else weight_decay,
            }
        )
    return reduce_param_groups(groups)
