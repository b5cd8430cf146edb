#!/usr/bin/env python
"""Count a config's model parameters, FLOPs and activations per module; print a table.

FLOPs and activations are counted by fvcore on real inputs at the config's test resolution:
the first ``--num-inputs`` images of ``dataloader.test`` (or, with ``--image-size H W``, a random
image of that size passed through the test mapper's resize), averaged per image. As in
detectron2, one "FLOP" is one multiply-add (fvcore's convention), the model runs in eval mode
on the CPU, and ``train.init_checkpoint`` is loaded when set (the number of detections, hence
the mask head's cost, depends on the weights). Attention through
``F.scaled_dot_product_attention`` is counted (fvcore has no rule for it; this tool adds one).

Examples::

    python tools/analyze_model.py --config-file cfg.py
    python tools/analyze_model.py --config-file cfg.py --tasks parameter,flop --max-depth 2
    python tools/analyze_model.py --config-file cfg.py --image-size 1024 1024 \\
        --json stats.json model.backbone.net.depth=12
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
from collections import Counter
from typing import Any

import numpy as np
import torch
from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis, parameter_count
from omegaconf import OmegaConf
from torch import nn

from det.checkpoint import DetectionCheckpointer
from det.config import ConfigError, LazyConfig, instantiate
from det.data import transforms as T
from det.engine import comma_separated_choices
from det.utils.errors import UserError
from det.utils.logger import setup_logger

logger = logging.getLogger("det.analyze_model")

_TASKS = ("parameter", "flop", "activation")
# Elementwise, indexing and shape ops: not counted (as in detectron2) and not worth listing.
_CHEAP_OPS = re.compile(
    r"^(aten::(add|sub|mul|div|rsub|neg|exp|log|log2|sqrt|rsqrt|pow|ceil|floor|clamp|min|max|"
    r"abs|sigmoid|gelu|silu|relu|sin|cos|where|eq|ne|gt|lt|ge|le|meshgrid|movedim|unflatten|"
    r"repeat_interleave|pad|topk|sort|argmax|cumsum|sum|mean|zeros_like|ones_like|full_like|"
    r"constant_pad_nd|index|scatter|gather|nonzero|masked_fill)_?|prim::.*)$"
)


def _sdpa_flop(inputs: list[Any], outputs: list[Any]) -> int:
    """MACs of ``aten::scaled_dot_product_attention``: Q K^T and (softmax) V."""
    from fvcore.nn.jit_handles import get_shape

    q, k, v = (get_shape(x) for x in inputs[:3])
    batch = math.prod(q[:-2])
    return batch * q[-2] * k[-2] * (q[-1] + v[-1])


def _sdpa_activation(inputs: list[Any], outputs: list[Any]) -> int:
    from fvcore.nn.jit_handles import get_shape

    return math.prod(get_shape(outputs[0]))


def _flatten_outputs(outputs: Any) -> tuple[torch.Tensor, ...]:
    """The tensors of a model's outputs (Instances fields, sem_seg, ...) in a fixed order, so
    that the model can be traced."""
    if isinstance(outputs, torch.Tensor):
        return (outputs,)
    if isinstance(outputs, (list, tuple)):
        return tuple(t for o in outputs for t in _flatten_outputs(o))
    if isinstance(outputs, dict):
        return tuple(t for k in sorted(outputs) for t in _flatten_outputs(outputs[k]))
    if hasattr(outputs, "get_fields"):  # Instances
        return _flatten_outputs(outputs.get_fields())
    if hasattr(outputs, "tensor"):  # Boxes, BitMasks
        return (outputs.tensor,)
    return ()


class _Traceable(nn.Module):
    """Wraps a model that takes a list of dicts so that fvcore's tracer can call it with one
    image tensor; ``height`` / ``width`` are fixed per wrapper."""

    def __init__(self, model: nn.Module, height: int, width: int) -> None:
        super().__init__()
        self.model = model
        self.size = (height, width)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.model([{"image": image, "height": self.size[0], "width": self.size[1]}])
        return _flatten_outputs(outputs)


def _strip(counts: dict[str, int]) -> dict[str, int]:
    """Module names of the wrapped model without the wrapper's ``model.`` prefix."""
    out = {}
    for name, value in counts.items():
        if name == "":
            continue
        name = "" if name == "model" else name.removeprefix("model.")
        out[name] = value
    return out


def _inputs(cfg: Any, args: argparse.Namespace) -> list[dict]:
    """Model input dicts at the config's test resolution (see the module docstring)."""
    if args.image_size:
        h, w = args.image_size
        augs = T.AugmentationList(list(instantiate(cfg.dataloader.test.mapper.augmentations)))
        image = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
        aug_input = T.AugInput(image)
        augs(aug_input)
        tensor = torch.as_tensor(np.ascontiguousarray(aug_input.image.transpose(2, 0, 1)))
        return [{"image": tensor, "height": h, "width": w}] * args.num_inputs
    cfg.dataloader.test.num_workers = 0
    inputs = []
    for batch in instantiate(cfg.dataloader.test):
        inputs.extend(batch)
        if len(inputs) >= args.num_inputs:
            break
    if not inputs:
        raise UserError("dataloader.test yielded no images; use --image-size H W instead")
    return inputs[: args.num_inputs]


def _analyze(model: nn.Module, inputs: list[dict], tasks: list[str]) -> dict[str, Any]:
    flops: Counter = Counter()
    acts: Counter = Counter()
    unsupported: Counter = Counter()
    for inp in inputs:
        wrapped = _Traceable(model, int(inp["height"]), int(inp["width"]))
        args = (inp["image"],)
        if "flop" in tasks:
            analysis = FlopCountAnalysis(wrapped, args)
            analysis.set_op_handle("aten::scaled_dot_product_attention", _sdpa_flop)
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            flops.update(_strip(analysis.by_module()))
            flops["__total__"] += analysis.total()
            unsupported.update(analysis.unsupported_ops())
        if "activation" in tasks:
            analysis = ActivationCountAnalysis(wrapped, args)
            analysis.set_op_handle("aten::scaled_dot_product_attention", _sdpa_activation)
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            acts.update(_strip(analysis.by_module()))
            acts["__total__"] += analysis.total()
    n = len(inputs)
    return {
        "flops": {k: v / n for k, v in flops.items()},
        "activations": {k: v / n for k, v in acts.items()},
        "unsupported_ops": {k: v // n for k, v in unsupported.items()},
    }


def _human(x: float) -> str:
    for unit, div in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.3g}"


def format_table(
    params: dict[str, int], flops: dict[str, float], acts: dict[str, float], max_depth: int
) -> str:
    """A per-module table (module names indented by depth) up to ``max_depth`` levels.

    Args:
        params: module name -> parameter count ("" is the whole model).
        flops, acts: module name -> per-image FLOPs / activations (may be empty).
        max_depth: deepest module level shown (1: the model's direct children).
    """
    # "" is the model itself; modules without parameters appear through their counts.
    names = {n for n in (*params, *flops, *acts) if n != "__total__"}
    names = {n for n in names if n == "" or n.count(".") < max_depth}
    header = ["module", "#parameters"]
    if flops:
        header.append("#flops")
    if acts:
        header.append("#activations")
    rows = [header]
    for name in sorted(names, key=lambda n: n.split(".")):
        depth = 0 if name == "" else name.count(".") + 1
        label = "model" if name == "" else "  " * depth + name.rsplit(".", 1)[-1]
        row = [label, _human(params.get(name, 0))]
        if flops:
            row.append(_human(flops.get(name, 0)))
        if acts:
            row.append(_human(acts.get(name, 0)))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for i, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append(" | ".join(cells))
        if i == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-file", required=True, metavar="FILE")
    parser.add_argument(
        "--tasks",
        type=comma_separated_choices(_TASKS),
        default=list(_TASKS),
        help="e.g. parameter,flop (default: all)",
    )
    parser.add_argument("--num-inputs", type=int, default=1, help="test images to average over")
    parser.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"))
    parser.add_argument("--max-depth", type=int, default=3, help="module levels in the table")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides key=value")
    args = parser.parse_args(argv)
    setup_logger(name="det")
    try:
        cfg = LazyConfig.apply_overrides(LazyConfig.load(args.config_file), args.opts)
        model = instantiate(cfg.model).eval()
        init = OmegaConf.select(cfg, "train.init_checkpoint", default="")
        if init:
            DetectionCheckpointer(model).load(init)
        params = parameter_count(model)
        stats: dict[str, Any] = {"flops": {}, "activations": {}, "unsupported_ops": {}}
        if set(args.tasks) & {"flop", "activation"}:
            inputs = _inputs(cfg, args)
            with torch.no_grad():
                stats = _analyze(model, inputs, args.tasks)
            shapes = sorted({tuple(x["image"].shape[-2:]) for x in inputs})
            stats["input_sizes"] = [list(s) for s in shapes]
    except (UserError, ConfigError) as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2

    print(format_table(params, stats["flops"], stats["activations"], args.max_depth))
    print(f"Total parameters: {params['']}")
    print(f"Trainable parameters: {sum(p.numel() for p in model.parameters() if p.requires_grad)}")
    if "flop" in args.tasks:
        total = stats["flops"].get("__total__", 0)
        print(
            f"Total FLOPs (multiply-adds) per image: {total:.0f} ({_human(total)}) at input "
            f"size(s) {stats['input_sizes']}"
        )
        costly = {k: v for k, v in stats["unsupported_ops"].items() if not _CHEAP_OPS.match(k)}
        if costly:
            ops = ", ".join(f"{k} x{v}" for k, v in sorted(costly.items()))
            print(f"Ops without a FLOP rule (not counted; elementwise ops omitted): {ops}")
    if "activation" in args.tasks:
        print(f"Total activations per image: {stats['activations'].get('__total__', 0):.0f}")
    if args.json:
        result = {
            "config_file": args.config_file,
            "parameters": params[""],
            "parameters_per_module": {k: v for k, v in params.items() if k},
            "flops": stats["flops"].get("__total__"),
            "flops_per_module": {k: v for k, v in stats["flops"].items() if k != "__total__"},
            "activations": stats["activations"].get("__total__"),
            "unsupported_ops": stats["unsupported_ops"],
            "input_sizes": stats.get("input_sizes"),
        }
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
        print(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
