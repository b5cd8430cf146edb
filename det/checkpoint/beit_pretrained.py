"""Load BEiT-family pre-trained weights into a :class:`BEiT`: BEiT ``beit_{base,large}_patch16_224_
pt22k[_ft22k].pth``, CAE pre-training checkpoints (the ``encoder.*`` of ``ContextAutoencoderViT``),
EVA-01 ``eva_psz14to16.pt`` (and the raw patch-14 file).

These files share BEiT's names (``cls_token``, ``pos_embed``, ``patch_embed.proj``,
``blocks.{i}.{norm1,attn.{qkv.weight,q_bias,v_bias,relative_position_bias_table,proj},norm2,
mlp.{fc1,fc2},gamma_1,gamma_2}``, ``rel_pos_bias.*`` when shared). On the way in, as the
segmentation code of BEiT / ViT-Adapter / EVA-01 does at load time:

* the relative position tables are resized from the pre-training grid to the model's
  ``img_size // patch_size`` grid with BEiT's geometric-progression cubic interpolation, and a
  shared table is copied into every block of a per-block model;
* ``pos_embed`` is resized bicubically to the model grid (cls slot kept);
* a patch-14 kernel is resized bicubically to the model's patch (EVA-01's 14-to-16 step);
* index buffers, ``mask_token``, ``lm_head``, classification heads and CAE's regressor /
  decoder / alignment encoder are dropped with the reason in the report;
* tables and layer scales the file lacks (EVA-01 with ``use_rel_pos_bias`` / ``init_values``)
  keep their initialization, listed in the report.

Any other missing or unexpected key raises an error listing the key groups that do not fit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from det.checkpoint.checkpointer import CheckpointError
from det.checkpoint.eva02_pretrained import resize_patch_embed, unwrap_state_dict
from det.modeling.backbone.beit import BEiT, num_relative_positions
from det.modeling.backbone.pos_embed import resize_pos_embed_grid

__all__ = [
    "BEiTCheckpointError",
    "BEiTLoadReport",
    "maybe_convert_beit",
    "resize_rel_pos_table",
]

_TABLE = "relative_position_bias_table"
_BLOCK_RE = re.compile(r"^blocks\.(\d+)\.(.+)$")
_BLOCK_KEYS = frozenset(
    {
        "norm1.weight",
        "norm1.bias",
        "attn.qkv.weight",
        "attn.q_bias",
        "attn.v_bias",
        f"attn.{_TABLE}",
        "attn.proj.weight",
        "attn.proj.bias",
        "norm2.weight",
        "norm2.bias",
        "mlp.fc1.weight",
        "mlp.fc1.bias",
        "mlp.fc2.weight",
        "mlp.fc2.bias",
        "gamma_1",
        "gamma_2",
    }
)
_TOP_KEYS = frozenset(
    {
        "cls_token",
        "pos_embed",
        "patch_embed.proj.weight",
        "patch_embed.proj.bias",
        f"rel_pos_bias.{_TABLE}",
        "norm.weight",
        "norm.bias",
    }
)
# Parameters a file may lack: learned from scratch when the model enables them (EVA-01 §2.2).
_MAY_BE_FRESH = re.compile(rf"(^|\.)({_TABLE}|gamma_1|gamma_2)$")
_DROPPED_PREFIX = {
    "mask_token": "MIM mask token (pre-training only)",
    "lm_head.": "MIM prediction head (pre-training only)",
    "head.": "classification head (segmentation does not use it)",
    "fc_norm.": "classification pooling norm (segmentation does not use it)",
    "rd_pos_embed": "CAE regressor / decoder (pre-training only)",
    "regresser.": "CAE regressor / decoder (pre-training only)",
    "decoder.": "CAE regressor / decoder (pre-training only)",
    "encoder_to_regresser": "CAE regressor / decoder (pre-training only)",
    "alignment_encoder.": "CAE alignment (target) encoder (pre-training only)",
    "teacher.": "CAE alignment (target) encoder (pre-training only)",
}


class BEiTCheckpointError(CheckpointError):
    """A BEiT-family checkpoint that does not fit the model's :class:`BEiT`."""


@dataclass
class BEiTLoadReport:
    """What happened to every tensor of a BEiT-family checkpoint.

    Attributes:
        target: module path of the BEiT ("backbone", "backbone.vit", "" for the bare one).
        loaded: model keys that received a checkpoint tensor.
        dropped: checkpoint key -> why it was deliberately not loaded.
        converted: notes on tensors changed on the way (tables, grids, patch kernel).
        fresh: model keys that keep their initialization (heads, adapter, new tables).
    """

    target: str
    loaded: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    converted: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)

    @property
    def is_clean(self) -> bool:
        """Always True: a checkpoint with missing or unexpected BEiT keys raises instead."""
        return True

    def __str__(self) -> str:
        lines = [
            f"BEiT-family checkpoint -> {self.target or '<model>'}: loaded "
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
            groups = _groups(self.fresh)
            lines.append(
                f"  {len(self.fresh)} model tensors keep their initialization: {', '.join(groups)}"
            )
        return "\n".join(lines)


def _geometric_offsets(src: int, dst: int) -> np.ndarray:
    """Where the ``src`` offsets of a table axis sit on the ``dst`` axis (BEiT's spacing).

    Upsampling keeps the small offsets at unit spacing and stretches the far ones by a
    geometric progression whose ratio q makes the outermost offset land at ``dst // 2``.
    """
    half = src // 2
    if dst <= src:
        # Shrinking: a plain linear rescale (BEiT's bisection has no ratio below 1.01).
        return np.linspace(-(dst // 2), dst // 2, src)
    left, right = 1.01, 1.5
    while right - left > 1e-6:
        q = (left + right) / 2.0
        if (1.0 - q**half) / (1.0 - q) > dst // 2:
            right = q
        else:
            left = q
    dis, cur = [], 1.0
    for i in range(half):
        dis.append(cur)
        cur += q ** (i + 1)
    return np.array([-d for d in reversed(dis)] + [0.0] + dis)


def resize_rel_pos_table(table: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Resize a BEiT relative position table to another token grid.

    The (2s-1) x (2s-1) offset part is interpolated per head with a bicubic spline through the
    offsets placed by BEiT's geometric progression (:func:`_geometric_offsets`), evaluated at the
    integer offsets of the new grid; the three cls entries are kept.

    Args:
        table (Tensor[(2s - 1)^2 + 3, nH]): the pre-trained table of a square s x s grid.
        grid: the new token grid (h, w).

    Returns:
        Tensor[(2h - 1)(2w - 1) + 3, nH] in the input dtype.
    """
    from scipy.interpolate import RectBivariateSpline

    rows, heads = table.shape
    side = int(round((rows - 3) ** 0.5))
    if side * side != rows - 3 or side % 2 == 0:
        raise BEiTCheckpointError(
            f"relative_position_bias_table of shape {tuple(table.shape)} is not a BEiT table of a "
            "square grid ((2s - 1)^2 + 3 rows)"
        )
    dst = (2 * grid[0] - 1, 2 * grid[1] - 1)
    if (side, side) == dst:
        return table
    if table.is_meta:  # shape-only checks (key lists): nothing to interpolate
        return table.new_empty(num_relative_positions(grid), heads)
    ys, xs = _geometric_offsets(side, dst[0]), _geometric_offsets(side, dst[1])
    ty, tx = np.arange(dst[0]) - dst[0] // 2, np.arange(dst[1]) - dst[1] // 2
    values = table[:-3].float().cpu().numpy().reshape(side, side, heads)
    out = np.empty((dst[0], dst[1], heads), dtype=np.float32)
    for head in range(heads):
        spline = RectBivariateSpline(ys, xs, values[:, :, head], kx=3, ky=3, s=0)
        out[:, :, head] = spline(ty, tx)
    resized = torch.from_numpy(out.reshape(-1, heads)).to(table.device, table.dtype)
    return torch.cat([resized, table[-3:]], dim=0)


def _strip_prefix(flat: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # CAE nests its encoder under "encoder."; its other modules stay prefixed and are dropped.
    if "encoder.patch_embed.proj.weight" in flat and "patch_embed.proj.weight" not in flat:
        return {k[len("encoder.") :] if k.startswith("encoder.") else k: v for k, v in flat.items()}
    return flat


def _looks_like_vit(flat: Mapping[str, torch.Tensor]) -> bool:
    # Loose on purpose: any ViT file offered to a BEiT reaches the key check and fails there
    # with the groups that differ (a timm ViT's qkv.bias, an EVA-02's q_proj), not half-way.
    return "patch_embed.proj.weight" in flat and any(k.startswith("blocks.0.") for k in flat)


def maybe_convert_beit(
    state_dict: Mapping, model: nn.Module
) -> tuple[dict[str, torch.Tensor], BEiTLoadReport] | None:
    """Map a BEiT / CAE / EVA-01 checkpoint onto the model's :class:`BEiT`, or return None.

    One of ``det.checkpoint.detection_checkpoint.CONVERTERS``.

    Args:
        state_dict: a loaded checkpoint (flat, or nested under ``model`` / ``module``).
        model: a BEiT, or any module containing exactly one (a FourScaleNeck, a ViTAdapter, a
            segmentor).

    Returns:
        None when the checkpoint is not an un-prefixed (or CAE ``encoder.``) ViT or the model has
        no BEiT. Else ``(state dict keyed by model names, report)``.

    Raises:
        BEiTCheckpointError: the checkpoint does not fit (another ViT family's keys, other
            width or depth, a shared table offered to a per-block-free model, ...).
    """
    flat = _strip_prefix(unwrap_state_dict(state_dict))
    if not _looks_like_vit(flat):
        return None
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, BEiT)]
    if not found:
        return None
    if len(found) > 1:
        names = [n or "<model>" for n, _ in found]
        raise BEiTCheckpointError(
            f"A BEiT-family checkpoint needs exactly one BEiT in the model; found {len(found)} "
            f"at {names}"
        )
    target, vit = found[0]
    _check_width_and_depth(flat, vit, target)
    prefix = f"{target}." if target else ""
    vit_state = vit.state_dict()
    report = BEiTLoadReport(target=target)
    out: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    mismatched: list[str] = []
    for key, value in _expand_shared_table(flat, vit, report).items():
        reason = _drop_reason(key, vit)
        if reason is not None:
            report.dropped[key] = reason
            continue
        if not _is_known(key) or key not in vit_state:
            unexpected.append(key)
            continue
        value = _fit(key, value, vit, report)
        if value.shape != vit_state[key].shape:
            mismatched.append(f"{key} {tuple(value.shape)} vs model {tuple(vit_state[key].shape)}")
            continue
        out[prefix + key] = value
        report.loaded.append(prefix + key)
    missing = [k for k in vit_state if prefix + k not in out and not _MAY_BE_FRESH.search(k)]
    if unexpected or missing or mismatched:
        raise BEiTCheckpointError(
            f"The checkpoint is not a BEiT-family ViT that fits the BEiT at "
            f"'{target or '<model>'}' (it may be another backbone's): missing {_groups(missing)}; "
            f"unexpected {_groups(unexpected)}; shape mismatch {mismatched[:3]}. Check "
            "mlp_ratio, qkv_bias, use_abs_pos_emb, use_rel_pos_bias / use_shared_rel_pos_bias "
            "against the checkpoint."
        )
    report.fresh = [key for key in model.state_dict() if key not in out]
    return out, report


def _check_width_and_depth(flat: Mapping[str, torch.Tensor], vit: BEiT, target: str) -> None:
    weight = flat["patch_embed.proj.weight"]
    where = target or "<model>"
    if weight.shape[0] != vit.embed_dim:
        raise BEiTCheckpointError(
            f"BEiT-family checkpoint has width {weight.shape[0]} (patch_embed.proj.weight "
            f"{tuple(weight.shape)}) but the BEiT at '{where}' has embed_dim={vit.embed_dim} "
            "(B 768, L 1024, EVA-01 ViT-g 1408): use the matching config or checkpoint"
        )
    depth = max(int(m.group(1)) for key in flat if (m := _BLOCK_RE.match(key))) + 1
    if depth != vit.depth:
        raise BEiTCheckpointError(
            f"BEiT-family checkpoint has {depth} blocks but the BEiT at '{where}' has "
            f"depth={vit.depth}: use the matching config or checkpoint"
        )


def _expand_shared_table(
    flat: dict[str, torch.Tensor], vit: BEiT, report: BEiTLoadReport
) -> dict[str, torch.Tensor]:
    shared = f"rel_pos_bias.{_TABLE}"
    if shared not in flat or vit.rel_pos_bias is not None or vit.blocks[0].attn.grid is None:
        return flat
    # BEiT's segmentation loader gives every block its own copy of the shared table.
    out = {k: v for k, v in flat.items() if k != shared}
    for i in range(vit.depth):
        out.setdefault(f"blocks.{i}.attn.{_TABLE}", flat[shared].clone())
    report.converted.append(f"{shared}: shared table copied into all {vit.depth} blocks")
    return out


def _drop_reason(key: str, vit: BEiT) -> str | None:
    if key.endswith("relative_position_index"):
        return "index buffer (rebuilt for the model grid)"
    for start, reason in _DROPPED_PREFIX.items():
        if key.startswith(start):
            return reason
    if key.startswith("norm.") and vit.norm is None:
        return "final norm (this model applies none: final_norm=False)"
    if key == "pos_embed" and vit.pos_embed is None:
        return "absolute position embedding (the model is built with use_abs_pos_emb=False)"
    if key.endswith(_TABLE) and key.startswith("blocks.") and vit.blocks[0].attn.grid is None:
        return "relative position bias (the model is built with use_rel_pos_bias=False)"
    if key.endswith("attn.k_bias"):
        return "zero key bias (timm stores it as a buffer)"
    return None


def _is_known(key: str) -> bool:
    if key in _TOP_KEYS:
        return True
    match = _BLOCK_RE.match(key)
    return match is not None and match.group(2) in _BLOCK_KEYS


def _fit(key: str, value: torch.Tensor, vit: BEiT, report: BEiTLoadReport) -> torch.Tensor:
    if key.endswith(_TABLE):
        rows = num_relative_positions(vit.grid)
        if value.shape[0] != rows and value.ndim == 2:
            old = int(round((value.shape[0] - 3) ** 0.5))
            value = resize_rel_pos_table(value, vit.grid)
            note = (
                f"relative position tables: {old}x{old} offsets -> {2 * vit.grid[0] - 1}x"
                f"{2 * vit.grid[1] - 1} (BEiT geometric cubic interpolation)"
            )
            if note not in report.converted:
                report.converted.append(note)
        return value
    if key == "pos_embed":
        grid_len = value.shape[1] - 1
        side = int(round(grid_len**0.5))
        if side * side != grid_len:
            raise BEiTCheckpointError(
                f"pos_embed of shape {tuple(value.shape)} has {grid_len} entries after the cls "
                "slot, which is not a square grid"
            )
        if (side, side) == vit.grid:
            return value
        grid = resize_pos_embed_grid(value[:, 1:].reshape(1, side, side, -1).float(), vit.grid)
        report.converted.append(
            f"pos_embed: grid {side}x{side} -> {vit.grid[0]}x{vit.grid[1]} (bicubic; "
            "img_size // patch_size)"
        )
        return torch.cat([value[:, :1], grid.reshape(1, -1, value.shape[-1]).to(value.dtype)], 1)
    if key == "patch_embed.proj.weight" and value.shape[-1] != vit.patch_size:
        report.converted.append(
            f"patch_embed.proj.weight: {value.shape[-1]}x{value.shape[-1]} kernel -> "
            f"{vit.patch_size}x{vit.patch_size} (bicubic, EVA-01's 14-to-16 conversion)"
        )
        return resize_patch_embed(value, vit.patch_size)
    return value


def _group_name(key: str) -> str:
    starred = re.sub(r"(?<=\.)\d+(?=\.)", "*", key)
    return re.sub(r"\.(weight|bias)$", "", starred)


def _groups(keys: list[str]) -> list[str]:
    groups = sorted({_group_name(key) for key in keys})
    return groups[:12] + (["..."] if len(groups) > 12 else [])
