"""Load EVA-02 MIM-pretrained checkpoints into a detector's EVA-02 ViT, and convert patch-14 ones.

EVA-02's MIM checkpoints (``eva02_{B,L}_pt_*_p14to16.pt``) hold the pretraining model:
``patch_embed``, ``pos_embed`` (with a cls slot), ``blocks.*`` (named exactly like
:class:`det.modeling.backbone.ViT`'s blocks), plus parts detection does not use: ``cls_token``,
``mask_token``, the final ``norm``, the ``lm_head`` decoder and RoPE tables for the 16 x 16
pretraining grid. The state dict may be flat or nested under ``model`` / ``module``.

Instead of suffix-matching names (which in the fork tries to put the final ``norm`` into every
256-channel norm of the detector and prints pages of shape warnings), every key is mapped
explicitly onto the ViT (``backbone.net`` in a detector); RoPE tables are never loaded (the
model computes them for its own grid); the position embedding stays on its pretraining grid
(the ViT resizes it to the token grid on every forward). The result is a categorized report.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from det.checkpoint.checkpointer import CheckpointError
from det.modeling.backbone.pos_embed import resize_pos_embed_grid
from det.modeling.backbone.vit import ViT

__all__ = [
    "MIMCheckpointError",
    "MIMLoadReport",
    "convert_eva02_patch14_to_16",
    "is_eva02_mim_state_dict",
    "maybe_convert_eva02_mim",
    "resize_patch_embed",
    "resize_pos_embed",
    "unwrap_state_dict",
]

# Per-block parameters of the EVA-02 MIM model and of det's ViT, identical names.
_BLOCK_KEYS = (
    "norm1.weight",
    "norm1.bias",
    "attn.q_bias",
    "attn.v_bias",
    "attn.q_proj.weight",
    "attn.k_proj.weight",
    "attn.v_proj.weight",
    "attn.proj.weight",
    "attn.proj.bias",
    "norm2.weight",
    "norm2.bias",
    "mlp.w1.weight",
    "mlp.w1.bias",
    "mlp.w2.weight",
    "mlp.w2.bias",
    "mlp.ffn_ln.weight",
    "mlp.ffn_ln.bias",
    "mlp.w3.weight",
    "mlp.w3.bias",
)
_TOP_KEYS = ("patch_embed.proj.weight", "patch_embed.proj.bias", "pos_embed")
_BLOCK_RE = re.compile(r"^blocks\.(\d+)\.(.+)$")

# Checkpoint entries that are deliberately not loaded, with the reason shown in the report.
_DROPPED_EXACT = {
    "cls_token": "cls token (detection has no cls token)",
    "mask_token": "MIM mask token (pretraining only)",
    "norm.weight": "final norm (the detection ViT has none)",
    "norm.bias": "final norm (the detection ViT has none)",
    "fc_norm.weight": "classification head (not used by detection)",
    "fc_norm.bias": "classification head (not used by detection)",
}
_DROPPED_PREFIX = {
    "lm_head.": "MIM decoder head (pretraining only)",
    "head.": "classification head (not used by detection)",
}
_ROPE_REASON = "RoPE table (recomputed by the model for its own grid)"


class MIMCheckpointError(CheckpointError):
    """An EVA-02 MIM checkpoint that cannot be loaded into the given model."""


@dataclass
class MIMLoadReport:
    """What happened to every tensor when loading an EVA-02 MIM checkpoint.

    Attributes:
        target: module path of the ViT that received the weights ("backbone.net").
        loaded: model keys that received a checkpoint tensor.
        dropped: checkpoint key -> why it was deliberately not loaded.
        converted: notes on tensors resized on the way (patch kernel, position grid).
        unexpected: checkpoint keys that match nothing known (worth a look).
        missing: ViT parameters the checkpoint did not provide (worth a look).
        fresh: model keys outside the ViT, left at their initialization (expected: the
            feature pyramid and the detection heads). RoPE tables are neither here nor
            in ``missing``: the model computes them.
    """

    target: str
    loaded: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    converted: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)

    @property
    def is_clean(self) -> bool:
        """True when nothing is unexpected or missing."""
        return not self.unexpected and not self.missing

    def summary(self) -> str:
        """A short multi-line text: counts per category, reasons grouped, suspicious keys listed."""
        target = self.target or "<model>"
        lines = [f"EVA-02 MIM checkpoint -> {target}: loaded {len(self.loaded)} tensors"]
        for note in self.converted:
            lines.append(f"  converted: {note}")
        reasons: dict[str, list[str]] = {}
        for key, reason in self.dropped.items():
            reasons.setdefault(reason, []).append(key)
        for reason, keys in reasons.items():
            shown = ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")
            lines.append(f"  dropped {len(keys)} ({reason}): {shown}")
        if self.fresh:
            groups = sorted({_group_name(key) for key in self.fresh})
            lines.append(
                f"  {len(self.fresh)} model tensors not in a MIM checkpoint keep their "
                f"initialization (expected): {', '.join(groups)}"
            )
        if self.missing:
            lines.append(f"  MISSING from the checkpoint ({len(self.missing)}): {self.missing}")
        if self.unexpected:
            lines.append(
                f"  UNEXPECTED in the checkpoint ({len(self.unexpected)}): {self.unexpected}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def unwrap_state_dict(checkpoint: Mapping) -> dict[str, torch.Tensor]:
    """Find the state dict in a checkpoint that may nest it under ``model`` or ``module``.

    Args:
        checkpoint: a state dict, or a dict holding one under ``"model"`` / ``"module"``
            (any depth, e.g. ``{"model": {"module": sd}}``).

    Returns:
        The flat ``name -> Tensor`` dict (non-tensor entries are left out).
    """
    current: Mapping = checkpoint
    while True:
        nested = [key for key in ("model", "module") if isinstance(current.get(key), Mapping)]
        if not nested:
            break
        current = current[nested[0]]
    return {key: value for key, value in current.items() if isinstance(value, torch.Tensor)}


def is_eva02_mim_state_dict(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether a flat state dict is an EVA-02 (MIM) ViT: un-prefixed EVA-02 block keys.

    Args:
        state_dict: output of :func:`unwrap_state_dict`.
    """
    return (
        "patch_embed.proj.weight" in state_dict
        and "blocks.0.attn.q_proj.weight" in state_dict
        and "blocks.0.mlp.w3.weight" in state_dict
    )


def resize_patch_embed(weight: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Resize a patch-embedding kernel bicubically (``align_corners=False``, in float32).

    Args:
        weight (Tensor[C, in_chans, p, p]): conv kernel for patch p.
        patch_size: new patch side P.

    Returns:
        Tensor[C, in_chans, P, P] (float32).
    """
    return F.interpolate(
        weight.float(), size=(patch_size, patch_size), mode="bicubic", align_corners=False
    )


def resize_pos_embed(
    pos_embed: torch.Tensor, grid: int, num_prefix_tokens: int = 1
) -> torch.Tensor:
    """Resize a flattened square position-embedding grid bicubically, keeping prefix tokens.

    Args:
        pos_embed (Tensor[1, T + g * g, C]): T prefix (cls) entries, then a g x g grid.
        grid: new grid side G.
        num_prefix_tokens: T.

    Returns:
        Tensor[1, T + G * G, C].
    """
    prefix = pos_embed[:, :num_prefix_tokens]
    tokens = pos_embed[:, num_prefix_tokens:]
    side = _square_side(tokens.shape[1])
    if side is None:
        raise MIMCheckpointError(
            f"pos_embed of shape {tuple(pos_embed.shape)} has {tokens.shape[1]} entries after "
            f"{num_prefix_tokens} prefix token(s), which is not a square grid"
        )
    square = tokens.reshape(1, side, side, -1)
    resized = resize_pos_embed_grid(square, (grid, grid)).reshape(1, grid * grid, -1)
    return torch.cat([prefix, resized.to(prefix.dtype)], dim=1)


def convert_eva02_patch14_to_16(
    state_dict: Mapping[str, torch.Tensor], patch_size: int = 16, pos_grid: int = 14
) -> dict[str, torch.Tensor]:
    """EVA-02's offline ``p14to16`` conversion of a MIM state dict.

    The patch kernel is resized 14 -> 16 and the position grid 16 x 16 -> 14 x 14 (keeping
    the cls slot), both bicubic with ``align_corners=False`` as in EVA's
    ``interpolate_patch_14to16.py``; every other entry is kept as is. The converted tensors
    are float32, as that script leaves them.

    Args:
        state_dict: flat EVA-02 state dict (see :func:`unwrap_state_dict`).
        patch_size: new patch side.
        pos_grid: new position-embedding grid side (``pretrain_img_size // patch_size``).

    Returns:
        A new dict with ``patch_embed.proj.weight`` and ``pos_embed`` converted.
    """
    for key in ("patch_embed.proj.weight", "pos_embed"):
        if key not in state_dict:
            raise MIMCheckpointError(f"convert_eva02_patch14_to_16: the state dict has no {key!r}")
    out = dict(state_dict)
    out["patch_embed.proj.weight"] = resize_patch_embed(
        state_dict["patch_embed.proj.weight"], patch_size
    )
    out["pos_embed"] = resize_pos_embed(state_dict["pos_embed"].float(), pos_grid)
    return out


def maybe_convert_eva02_mim(
    state_dict: Mapping, model: nn.Module
) -> tuple[dict[str, torch.Tensor], MIMLoadReport] | None:
    """Map an EVA-02 MIM checkpoint onto ``model``'s EVA-02 ViT, or return None.

    Called by ``DetectionCheckpointer`` before its generic loading: when this returns a
    result, load the returned dict with ``model.load_state_dict(sd, strict=False)`` and show
    the report instead of a generic missing/unexpected listing.

    Args:
        state_dict: a loaded checkpoint (flat, or nested under ``model`` / ``module``).
        model: the model to load into: a detector whose backbone contains a ViT, a
            SimpleFeaturePyramid, or a ViT itself.

    Returns:
        None when ``state_dict`` is not an EVA-02 MIM checkpoint (anything with detector keys
        such as ``backbone.net.*``, or another architecture). Otherwise ``(model_state_dict,
        report)`` where the dict is keyed by ``model``'s own parameter names.

    Raises:
        MIMCheckpointError: the checkpoint is EVA-02 but does not fit the model (no EVA-02
            ViT in the model, different width, different depth, other shape mismatches).
    """
    flat = unwrap_state_dict(state_dict)
    if not is_eva02_mim_state_dict(flat):
        return None
    target, vit = _find_vit(model)
    prefix = f"{target}." if target else ""
    _check_width_and_depth(flat, vit, target)

    model_state = model.state_dict()
    report = MIMLoadReport(target=target)
    out: dict[str, torch.Tensor] = {}
    mismatched: list[str] = []
    for key, value in flat.items():
        reason = _drop_reason(key)
        if reason is not None:
            report.dropped[key] = reason
            continue
        if not _is_known_vit_key(key) or prefix + key not in model_state:
            report.unexpected.append(key)
            continue
        model_key = prefix + key
        expected = model_state[model_key].shape
        if key == "patch_embed.proj.weight" and value.shape[-2:] != expected[-2:]:
            report.converted.append(
                f"{key}: kernel {tuple(value.shape[-2:])} -> {tuple(expected[-2:])} (bicubic)"
            )
            value = resize_patch_embed(value, expected[-1])
        elif key == "pos_embed" and value.shape != expected:
            value = _fit_pos_embed(value, vit, report)
        if value.shape != expected:
            mismatched.append(f"{key} {tuple(value.shape)} vs model {tuple(expected)}")
            continue
        out[model_key] = value
        report.loaded.append(model_key)
    if mismatched:
        raise MIMCheckpointError(
            f"EVA-02 MIM checkpoint does not fit the ViT at '{target or '<model>'}': shape "
            f"mismatch for {len(mismatched)} tensors, e.g. {mismatched[:3]} (check mlp_ratio, "
            "qkv_bias and patch_size against the checkpoint)"
        )

    vit_keys = {prefix + key for key in vit.state_dict()}
    for key in model_state:
        if key in out or _is_rope_table(key):
            continue
        if key in vit_keys:
            report.missing.append(key)
        else:
            report.fresh.append(key)
    return out, report


def _find_vit(model: nn.Module) -> tuple[str, ViT]:
    found = [(name, module) for name, module in model.named_modules() if isinstance(module, ViT)]
    if len(found) != 1:
        raise MIMCheckpointError(
            f"An EVA-02 MIM checkpoint needs exactly one EVA-02 ViT "
            f"(det.modeling.backbone.ViT) in the model; found {len(found)} in "
            f"{type(model).__name__}"
        )
    return found[0]


def _check_width_and_depth(flat: Mapping[str, torch.Tensor], vit: ViT, target: str) -> None:
    width = flat["patch_embed.proj.weight"].shape[0]
    where = target or "<model>"
    if width != vit.embed_dim:
        raise MIMCheckpointError(
            f"EVA-02 MIM checkpoint has width {width} (patch_embed.proj.weight "
            f"{tuple(flat['patch_embed.proj.weight'].shape)}) but the ViT at '{where}' has "
            f"embed_dim={vit.embed_dim}: the checkpoint is for another model size (B is 768, "
            "L is 1024); use the matching config or checkpoint"
        )
    block_ids = {int(m.group(1)) for key in flat if (m := _BLOCK_RE.match(key))}
    depth = max(block_ids) + 1 if block_ids else 0
    if depth != len(vit.blocks):
        raise MIMCheckpointError(
            f"EVA-02 MIM checkpoint has {depth} blocks but the ViT at '{where}' has "
            f"depth={len(vit.blocks)}: use the matching config or checkpoint"
        )


def _fit_pos_embed(value: torch.Tensor, vit: ViT, report: MIMLoadReport) -> torch.Tensor:
    # Keep the model's pretraining grid: only a checkpoint stored on another grid (a patch-14
    # checkpoint, 16 x 16) is resized, once, here. Anything else is left for the shape check.
    assert vit.pos_embed is not None
    model_prefix = 1 if vit.pretrain_use_cls_token else 0
    model_grid = _square_side(vit.pos_embed.shape[1] - model_prefix)
    ckpt_grid = _square_side(value.shape[1] - 1)
    if ckpt_grid is None or model_grid is None or value.shape[-1] != vit.pos_embed.shape[-1]:
        return value
    converted = resize_pos_embed(value.float(), model_grid, num_prefix_tokens=1)
    if model_prefix == 0:
        converted = converted[:, 1:]
    report.converted.append(
        f"pos_embed: grid {ckpt_grid}x{ckpt_grid} -> {model_grid}x{model_grid} (bicubic)"
    )
    return converted


def _square_side(n: int) -> int | None:
    side = math.isqrt(n) if n >= 0 else -1
    return side if side >= 0 and side * side == n else None


def _drop_reason(key: str) -> str | None:
    if _is_rope_table(key):
        return _ROPE_REASON
    if key in _DROPPED_EXACT:
        return _DROPPED_EXACT[key]
    for prefix, reason in _DROPPED_PREFIX.items():
        if key.startswith(prefix):
            return reason
    return None


def _is_known_vit_key(key: str) -> bool:
    if key in _TOP_KEYS:
        return True
    match = _BLOCK_RE.match(key)
    return match is not None and match.group(2) in _BLOCK_KEYS


def _is_rope_table(key: str) -> bool:
    return key.endswith((".freqs_cos", ".freqs_sin"))


def _group_name(key: str) -> str:
    parts = key.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else parts[0]
