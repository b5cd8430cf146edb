"""Load timm-layout ViT weights (DeiT ``deit_*_patch16_224-*.pth``, AugReg ``*_16-i21k-...pth`` as
ViT-Adapter releases them, timm hybrid R26/R50 ViTs) into a :class:`TimmViT`.

These files are classification models: ``cls_token``, ``pos_embed`` (cls slot first; DeiT
distilled adds ``dist_token`` and a second slot), ``patch_embed.*``, ``blocks.*`` (timm names,
identical to :class:`TimmViT`'s), the final ``norm`` and ``head`` (+ ``head_dist``,
``pre_logits``, ``fc_norm``). DeiT nests them under ``model``. Every key goes through the explicit
table below; the classification head is dropped, the final norm is loaded only where the model
applies one (``final_norm``), the cls / dist tokens only where the model has them, and the
position grid is resized bicubically to the model's ``pretrain_img_size // patch_size`` grid.
The same ViTs written by mmseg's ``vit2mmseg`` converter (RegionProxy's AugReg files:
``layers.*.ln1``, ``attn.attn.in_proj_*``, ...) are renamed to timm's layout first
(:mod:`det.checkpoint.mmseg_vit`). A checkpoint of another backbone raises an error listing the
key groups that do not fit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from det.checkpoint.checkpointer import CheckpointError
from det.checkpoint.eva02_pretrained import unwrap_state_dict
from det.checkpoint.mmseg_vit import is_mmseg_vit_state_dict, mmseg_vit_to_timm
from det.modeling.backbone.pos_embed import resize_pos_embed_grid
from det.modeling.backbone.timm_hybrid import HybridPatchEmbed
from det.modeling.backbone.timm_vit import TimmViT

__all__ = ["TimmViTCheckpointError", "TimmViTLoadReport", "maybe_convert_timm_vit"]

# Per-block parameters: timm's name == TimmViT's name.
_BLOCK_KEYS = frozenset(
    f"{module}.{kind}"
    for module in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2")
    for kind in ("weight", "bias")
)
_PATCH_KEYS = frozenset({"patch_embed.proj.weight", "patch_embed.proj.bias"})
_HYBRID_PREFIX = "patch_embed.backbone."
_BLOCK_RE = re.compile(r"^blocks\.(\d+)\.(.+)$")
_HEAD_REASON = "classification head (segmentation does not use it)"
_DROPPED_PREFIX = {
    "head.": _HEAD_REASON,
    "head_dist.": "DeiT distillation head (segmentation does not use it)",
    "pre_logits.": "pre-logits layer of the classifier",
    "fc_norm.": _HEAD_REASON,
}


class TimmViTCheckpointError(CheckpointError):
    """A timm-layout ViT checkpoint that does not fit the model's :class:`TimmViT`."""


@dataclass
class TimmViTLoadReport:
    """What happened to every tensor of a timm-layout ViT checkpoint.

    Attributes:
        target: module path of the TimmViT ("backbone", "backbone.vit", "" for the bare one).
        loaded: model keys that received a checkpoint tensor.
        dropped: checkpoint key -> why it was deliberately not loaded.
        converted: notes on tensors changed on the way (position grid, prefix slots).
        fresh: model keys outside the TimmViT that keep their initialization (adapter, heads).
    """

    target: str
    loaded: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    converted: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)

    @property
    def is_clean(self) -> bool:
        """Always True: a checkpoint with missing or unexpected ViT keys raises instead."""
        return True

    def __str__(self) -> str:
        lines = [
            f"timm-layout ViT checkpoint -> {self.target or '<model>'}: loaded "
            f"{len(self.loaded)} tensors"
        ]
        lines += [f"  converted: {note}" for note in self.converted]
        reasons: dict[str, list[str]] = {}
        for key, reason in self.dropped.items():
            reasons.setdefault(reason, []).append(key)
        for reason, keys in reasons.items():
            shown = ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")
            lines.append(f"  dropped {len(keys)} ({reason}): {shown}")
        if self.fresh:
            groups = sorted({_group_name(key) for key in self.fresh})
            lines.append(
                f"  {len(self.fresh)} model tensors outside the ViT keep their initialization "
                f"(expected): {', '.join(groups[:8])}{', ...' if len(groups) > 8 else ''}"
            )
        return "\n".join(lines)


def _looks_like_timm_vit(flat: Mapping[str, torch.Tensor]) -> bool:
    # Loose on purpose: another ViT family's file (BEiT, ...) offered to a TimmViT must reach
    # the key check below and fail there with the groups that differ, not load half-way.
    return "patch_embed.proj.weight" in flat and "blocks.0.norm1.weight" in flat


def maybe_convert_timm_vit(
    state_dict: Mapping, model: nn.Module
) -> tuple[dict[str, torch.Tensor], TimmViTLoadReport] | None:
    """Map a timm-layout ViT checkpoint onto the model's :class:`TimmViT`, or return None.

    One of ``det.checkpoint.detection_checkpoint.CONVERTERS``.

    Args:
        state_dict: a loaded checkpoint (flat, or nested under ``model`` / ``module``).
        model: a TimmViT, or any module containing exactly one (a ViTAdapter, a segmentor).

    Returns:
        None when the checkpoint is not an un-prefixed ViT (``patch_embed.proj.weight`` and
        ``blocks.0.norm1.weight``) or the model has no TimmViT.
        Else ``(state dict keyed by model names, report)``.

    Raises:
        TimmViTCheckpointError: the checkpoint does not fit (another backbone's keys, other
            width or depth, a cls / dist token or CNN stem the model needs but the file lacks).
    """
    flat = unwrap_state_dict(state_dict)
    mmseg_layout = is_mmseg_vit_state_dict(flat)
    if mmseg_layout:
        flat = mmseg_vit_to_timm(flat)
    if not _looks_like_timm_vit(flat):
        return None
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, TimmViT)]
    if not found:
        return None
    if len(found) > 1:
        names = [n or "<model>" for n, _ in found]
        raise TimmViTCheckpointError(
            f"A timm-layout ViT checkpoint needs exactly one TimmViT in the model; found "
            f"{len(found)} at {names}"
        )
    target, vit = found[0]
    _check_width_and_depth(flat, vit, target)
    prefix = f"{target}." if target else ""
    vit_state = vit.state_dict()
    report = TimmViTLoadReport(target=target)
    if mmseg_layout:
        report.converted.append("mmseg VisionTransformer names (layers.*.ln1, ...) -> timm's")
    out: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    mismatched: list[str] = []
    hybrid = isinstance(vit.patch_embed, HybridPatchEmbed)
    for key, value in flat.items():
        reason = _drop_reason(key, vit)
        if reason is not None:
            report.dropped[key] = reason
            continue
        if key == "pos_embed":
            value = _fit_pos_embed(value, vit, "dist_token" in flat, report)
        elif not _is_known(key, hybrid) or key not in vit_state:
            unexpected.append(key)
            continue
        if value.shape != vit_state[key].shape:
            mismatched.append(f"{key} {tuple(value.shape)} vs model {tuple(vit_state[key].shape)}")
            continue
        out[prefix + key] = value
        report.loaded.append(prefix + key)
    missing = [key for key in vit_state if prefix + key not in out]
    if unexpected or missing or mismatched:
        raise TimmViTCheckpointError(
            f"The checkpoint is not a timm-layout ViT that fits the TimmViT at "
            f"'{target or '<model>'}' (it may be another backbone's): "
            f"missing {_groups(missing)}; unexpected {_groups(unexpected)}; shape mismatch "
            f"{mismatched[:3]}. Check mlp_ratio, qkv_bias, use_cls_token / use_dist_token and "
            "the patch embedding against the checkpoint."
        )
    report.fresh = [key for key in model.state_dict() if key not in out]
    return out, report


def _check_width_and_depth(flat: Mapping[str, torch.Tensor], vit: TimmViT, target: str) -> None:
    width = flat["patch_embed.proj.weight"].shape[0]
    where = target or "<model>"
    if width != vit.embed_dim:
        raise TimmViTCheckpointError(
            f"timm-layout ViT checkpoint has width {width} (patch_embed.proj.weight "
            f"{tuple(flat['patch_embed.proj.weight'].shape)}) but the TimmViT at '{where}' has "
            f"embed_dim={vit.embed_dim} (T 192, S 384, B 768, L 1024): use the matching config "
            "or checkpoint"
        )
    block_ids = {int(m.group(1)) for key in flat if (m := _BLOCK_RE.match(key))}
    depth = max(block_ids) + 1
    if depth != vit.depth:
        raise TimmViTCheckpointError(
            f"timm-layout ViT checkpoint has {depth} blocks but the TimmViT at '{where}' has "
            f"depth={vit.depth}: use the matching config or checkpoint"
        )


def _drop_reason(key: str, vit: TimmViT) -> str | None:
    for prefix, reason in _DROPPED_PREFIX.items():
        if key.startswith(prefix):
            return reason
    if key in ("norm.weight", "norm.bias") and vit.norm is None:
        return "final norm (this model applies none: final_norm=False)"
    if key == "cls_token" and vit.cls_token is None:
        return "cls token (the model is built with use_cls_token=False)"
    if key == "dist_token" and vit.dist_token is None:
        return "DeiT distillation token (the model is built with use_dist_token=False)"
    return None


def _is_known(key: str, hybrid: bool) -> bool:
    if key in ("cls_token", "dist_token", "norm.weight", "norm.bias"):
        return True
    if key in _PATCH_KEYS or (hybrid and key.startswith(_HYBRID_PREFIX)):
        return True
    match = _BLOCK_RE.match(key)
    return match is not None and match.group(2) in _BLOCK_KEYS


def _fit_pos_embed(
    value: torch.Tensor, vit: TimmViT, ckpt_has_dist: bool, report: TimmViTLoadReport
) -> torch.Tensor:
    ckpt_prefix = 2 if ckpt_has_dist else 1
    grid_len = value.shape[1] - ckpt_prefix
    side = int(grid_len**0.5)
    if side * side != grid_len:
        raise TimmViTCheckpointError(
            f"pos_embed of shape {tuple(value.shape)} has {grid_len} entries after "
            f"{ckpt_prefix} prefix slot(s), which is not a square grid"
        )
    slots = value[:, : min(ckpt_prefix, vit.num_pos_prefix)]
    if ckpt_prefix > vit.num_pos_prefix:
        report.converted.append("pos_embed: distillation-token slot dropped (no dist token)")
    grid = value[:, ckpt_prefix:].reshape(1, side, side, -1)
    target = vit.pretrain_grid
    if side != target:
        grid = resize_pos_embed_grid(grid.float(), (target, target)).to(value.dtype)
        report.converted.append(
            f"pos_embed: grid {side}x{side} -> {target}x{target} (bicubic; "
            "pretrain_img_size // patch_size)"
        )
    return torch.cat([slots, grid.reshape(1, target * target, -1)], dim=1)


def _group_name(key: str) -> str:
    # "blocks.3.attn.qkv.weight" -> "blocks.*.attn.qkv": one line per tensor kind, any block.
    starred = re.sub(r"(?<=\.)\d+(?=\.)", "*", key)
    return re.sub(r"\.(weight|bias)$", "", starred)


def _groups(keys: list[str]) -> list[str]:
    groups = sorted({_group_name(key) for key in keys})
    return groups[:12] + (["..."] if len(groups) > 12 else [])
