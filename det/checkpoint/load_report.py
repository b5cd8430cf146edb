"""Matching checkpoint keys to model keys, and a short categorized report of the result.

Glossary: *checkpoint keys* are the names in the loaded state dict; *model keys* are the names
in ``model.state_dict()`` (parameters and persistent buffers). Non-persistent buffers (e.g.
``pixel_mean``, anchors) are computed by the model and never loaded.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["LoadReport", "align_state_dict", "group_keys"]

_MAX_LINES = 25  # per category; a report is meant to be read, not scrolled


@dataclass
class LoadReport:
    """What happened when a checkpoint was loaded into a model.

    Attributes:
        loaded_keys: model keys that received a checkpoint tensor.
        renamed: model key -> checkpoint key, for keys matched by suffix rather than exactly.
        missing_keys: model keys the checkpoint does not provide (they keep their current
            values).
        unexpected_keys: checkpoint keys the model has no use for.
        ignored_buffer_keys: checkpoint keys of buffers that the model computes itself
            (non-persistent buffers); expected, not a problem.
        incorrect_shapes: ``(model key, checkpoint shape, model shape)`` of parameters that were
            skipped because the shapes differ.
        kept_buffer_shapes: the same, for buffers (e.g. RoPE tables computed for another input
            size); the model keeps its own values.
    """

    loaded_keys: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)
    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
    ignored_buffer_keys: list[str] = field(default_factory=list)
    incorrect_shapes: list[tuple[str, tuple, tuple]] = field(default_factory=list)
    kept_buffer_shapes: list[tuple[str, tuple, tuple]] = field(default_factory=list)

    def log(self, logger: logging.Logger) -> None:
        """Logs the report: problems at WARNING, expected differences at INFO."""
        if self.renamed:
            model_key, ckpt_key = next(iter(self.renamed.items()))
            logger.info(
                f"{len(self.renamed)} keys were matched by suffix, e.g. checkpoint "
                f"'{ckpt_key}' -> model '{model_key}'."
            )
        if self.ignored_buffer_keys:
            logger.info(
                "Ignored checkpoint values of buffers the model computes itself:\n"
                + _indent(group_keys(self.ignored_buffer_keys))
            )
        if self.kept_buffer_shapes:
            lines = _group_shapes(self.kept_buffer_shapes)
            logger.info(
                "Kept the model's own buffers where the checkpoint's shape differs "
                "(checkpoint shape vs model shape):\n" + _indent(lines)
            )
        if self.incorrect_shapes:
            logger.warning(
                "Skip loading parameters whose shapes in the checkpoint differ from the model "
                "(checkpoint shape vs model shape; they keep their initialization):\n"
                + _indent(_group_shapes(self.incorrect_shapes))
            )
        if self.missing_keys:
            logger.warning(
                "Some model parameters or buffers are not found in the checkpoint:\n"
                + _indent(group_keys(self.missing_keys))
            )
        if self.unexpected_keys:
            logger.warning(
                "The checkpoint state_dict contains keys that are not used by the model:\n"
                + _indent(group_keys(self.unexpected_keys))
            )


def align_state_dict(
    checkpoint_state: dict[str, torch.Tensor], model: nn.Module
) -> tuple[dict[str, torch.Tensor], LoadReport]:
    """Maps checkpoint keys to model keys and filters out tensors that cannot be loaded.

    A checkpoint key ``k`` matches model key ``m`` if ``m == k`` or ``m`` ends with ``"." + k``
    (so backbone-only checkpoints such as ``blocks.0.norm1.weight`` load into
    ``backbone.net.blocks.0.norm1.weight``); for each model key the exact, else the longest
    matching checkpoint key is used. Pairs whose shapes differ are skipped and reported.

    Args:
        checkpoint_state: checkpoint key -> Tensor.
        model: the model to load into (not DDP-wrapped).

    Returns:
        (dict, LoadReport): the state dict in model keys, ready for
        ``model.load_state_dict(..., strict=False)``, and the report.

    Raises:
        ValueError: if one checkpoint key would be loaded into several unrelated model tensors.
    """
    model_state = model.state_dict()
    buffer_names = {name for name, _ in model.named_buffers()}
    non_persistent = buffer_names - set(model_state)
    report = LoadReport()
    aligned: dict[str, torch.Tensor] = {}
    used_by: dict[str, list[str]] = defaultdict(list)
    matched: set[str] = set()
    suffix_index = _suffix_index(checkpoint_state)
    for model_key, model_tensor in model_state.items():
        ckpt_key = model_key if model_key in checkpoint_state else None
        if ckpt_key is None:
            ckpt_key = _longest_suffix_match(model_key, suffix_index)
        if ckpt_key is None:
            continue
        value = checkpoint_state[ckpt_key]
        matched.add(ckpt_key)
        if tuple(value.shape) != tuple(model_tensor.shape):
            entry = (model_key, tuple(value.shape), tuple(model_tensor.shape))
            if model_key in buffer_names:
                report.kept_buffer_shapes.append(entry)
            else:
                report.incorrect_shapes.append(entry)
            continue
        aligned[model_key] = value
        used_by[ckpt_key].append(model_key)
        if ckpt_key != model_key:
            report.renamed[model_key] = ckpt_key
    for ckpt_key, model_keys in used_by.items():
        storages = {model_state[k].untyped_storage().data_ptr() for k in model_keys}
        if len(storages) > 1:
            raise ValueError(
                f"Checkpoint key '{ckpt_key}' matches several model keys by suffix: "
                f"{', '.join(model_keys)}; rename the checkpoint keys so each is unambiguous."
            )
    report.loaded_keys = list(aligned)
    loaded_storages = {model_state[k].untyped_storage().data_ptr() for k in aligned}
    skipped = {k for k, _, _ in report.incorrect_shapes + report.kept_buffer_shapes}
    for model_key, tensor in model_state.items():
        if model_key in aligned or model_key in skipped:
            continue
        # Tensors shared with a loaded key (e.g. one RoPE module used by many blocks) are loaded.
        if tensor.untyped_storage().data_ptr() in loaded_storages and tensor.numel() > 0:
            continue
        report.missing_keys.append(model_key)
    for ckpt_key in checkpoint_state:
        if ckpt_key in matched:
            continue
        if ckpt_key in non_persistent:
            report.ignored_buffer_keys.append(ckpt_key)
        else:
            report.unexpected_keys.append(ckpt_key)
    return aligned, report


def _suffix_index(checkpoint_state: dict[str, torch.Tensor]) -> dict[str, list[str]]:
    # Indexed by the last name component so that each model key only checks a few candidates.
    index: dict[str, list[str]] = defaultdict(list)
    for key in checkpoint_state:
        index[key.rsplit(".", 1)[-1]].append(key)
    return index


def _longest_suffix_match(model_key: str, index: dict[str, list[str]]) -> str | None:
    candidates = [
        k for k in index.get(model_key.rsplit(".", 1)[-1], ()) if model_key.endswith("." + k)
    ]
    return max(candidates, key=len) if candidates else None


def group_keys(keys: list[str]) -> list[str]:
    """Condenses parameter names into a few readable lines.

    Numbered path components are merged into ranges and sibling leaves into braces, e.g.
    ``blocks.0.attn.q_bias ... blocks.11.attn.v_bias`` becomes
    ``blocks.{0..11}.attn.{q_bias, v_bias}``.

    Args:
        keys: dotted names.

    Returns:
        list[str]: one line per group, in order of first appearance.
    """
    # 1) Merge keys that differ only in their numeric components, when the numbers form a
    #    full grid (so the rendering never claims keys that do not exist).
    by_pattern: dict[tuple[str, ...], list[tuple[int, ...]]] = defaultdict(list)
    for key in keys:
        parts = key.split(".")
        pattern = tuple("#" if p.isdigit() else p for p in parts)
        by_pattern[pattern].append(tuple(int(p) for p in parts if p.isdigit()))
    rendered: list[str] = []
    for pattern, numbers in by_pattern.items():
        slots = [sorted({n[i] for n in numbers}) for i in range(len(numbers[0]))]
        grid_size = 1
        for values in slots:
            grid_size *= len(values)
        if grid_size == len(set(numbers)):
            rendered.append(_fill(pattern, [_format_numbers(v) for v in slots]))
        else:
            rendered.extend(_fill(pattern, [str(x) for x in n]) for n in numbers)
    # 2) Merge lines that differ only in their last component.
    by_parent: dict[str, list[str]] = defaultdict(list)
    for line in rendered:
        parent, _, leaf = line.rpartition(".")
        by_parent[parent].append(leaf)
    lines = []
    for parent, leaves in by_parent.items():
        leaf = leaves[0] if len(leaves) == 1 else "{" + ", ".join(leaves) + "}"
        lines.append(f"{parent}.{leaf}" if parent else leaf)
    return lines


def _fill(pattern: tuple[str, ...], numbers: list[str]) -> str:
    it = iter(numbers)
    return ".".join(next(it) if p == "#" else p for p in pattern)


def _format_numbers(values: list[int]) -> str:
    if len(values) == 1:
        return str(values[0])
    if len(values) >= 3 and values[-1] - values[0] == len(values) - 1:
        return "{" + f"{values[0]}..{values[-1]}" + "}"
    return "{" + ",".join(str(v) for v in values) + "}"


def _group_shapes(entries: list[tuple[str, tuple, tuple]]) -> list[str]:
    by_shapes: dict[tuple[tuple, tuple], list[str]] = defaultdict(list)
    for key, ckpt_shape, model_shape in entries:
        by_shapes[(ckpt_shape, model_shape)].append(key)
    lines = []
    for (ckpt_shape, model_shape), keys in by_shapes.items():
        for line in group_keys(keys):
            lines.append(f"{line}: {_shape_str(ckpt_shape)} vs {_shape_str(model_shape)}")
    return lines


def _shape_str(shape: tuple) -> str:
    return str(tuple(shape))


def _indent(lines: list[str]) -> str:
    shown = lines[:_MAX_LINES]
    if len(lines) > _MAX_LINES:
        shown.append(f"... and {len(lines) - _MAX_LINES} more lines")
    return "\n".join("  " + line for line in shown)
