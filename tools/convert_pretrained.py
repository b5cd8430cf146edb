#!/usr/bin/env python
"""Convert an EVA-02 patch-14 MIM checkpoint to patch 16 (EVA-02's ``*_p14to16.pt`` files).

The patch-embedding kernel is resized 14x14 -> 16x16 and the position-embedding grid
16x16 -> 14x14 (bicubic, as in EVA's ``interpolate_patch_14to16.py``); everything else,
including the ``model`` / ``module`` wrapper and any other top-level entries, is kept. The
output is written atomically. Example::

    python tools/convert_pretrained.py eva02_B_pt_in21k_p14.pt eva02_B_pt_in21k_p14to16.pt

Loading a converted (or even an unconverted) file needs no further step:
``train.init_checkpoint=<file>`` maps it onto ``backbone.net`` (det.checkpoint.eva02_pretrained).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

import torch

from det.checkpoint.eva02_pretrained import (
    MIMCheckpointError,
    convert_eva02_patch14_to_16,
    is_eva02_mim_state_dict,
)
from det.utils.file_io import atomic_torch_save


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="EVA-02 MIM checkpoint with a 14x14 patch embedding")
    parser.add_argument("output", help="where to write the converted checkpoint")
    parser.add_argument("--patch-size", type=int, default=16, help="new patch side (16)")
    parser.add_argument(
        "--pos-grid",
        type=int,
        default=14,
        help="new position-embedding grid side, pretrain_img_size // patch_size (224 // 16 = 14)",
    )
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="load with torch.load(weights_only=False); only for files from a trusted source "
        "that store non-tensor Python objects",
    )
    return parser.parse_args(argv)


def _replace_state_dict(checkpoint: dict, new_state: dict) -> dict:
    # Rebuild the same nesting ({"model": ...}, {"module": ...}) around the converted dict.
    for key in ("model", "module"):
        if isinstance(checkpoint.get(key), Mapping):
            return {**checkpoint, key: _replace_state_dict(dict(checkpoint[key]), new_state)}
    return {**checkpoint, **new_state}


def _find_state_dict(checkpoint: Mapping) -> Mapping:
    for key in ("model", "module"):
        if isinstance(checkpoint.get(key), Mapping):
            return _find_state_dict(checkpoint[key])
    return checkpoint


def main(argv: list[str] | None = None) -> int:
    """Run the conversion; returns the process exit code."""
    args = _parse_args(argv)
    try:
        checkpoint = torch.load(args.input, map_location="cpu", weights_only=not args.allow_pickle)
    except FileNotFoundError:
        print(f"convert_pretrained: input file {args.input!r} does not exist", file=sys.stderr)
        return 1
    except Exception as e:  # torch raises several types for non-weights pickles
        print(
            f"convert_pretrained: cannot load {args.input!r} with weights_only="
            f"{not args.allow_pickle} ({type(e).__name__}: {e}); if the file is trusted and "
            "stores other Python objects, pass --allow-pickle",
            file=sys.stderr,
        )
        return 1
    if not isinstance(checkpoint, Mapping):
        print(f"convert_pretrained: {args.input!r} does not hold a dict", file=sys.stderr)
        return 1
    state = _find_state_dict(checkpoint)
    if not is_eva02_mim_state_dict(state):
        print(
            f"convert_pretrained: {args.input!r} is not an EVA-02 checkpoint (expected keys "
            "'patch_embed.proj.weight' and 'blocks.0.attn.q_proj.weight')",
            file=sys.stderr,
        )
        return 1
    old_kernel = tuple(state["patch_embed.proj.weight"].shape)
    old_pos = tuple(state["pos_embed"].shape)
    try:
        converted = convert_eva02_patch14_to_16(state, args.patch_size, args.pos_grid)
    except MIMCheckpointError as e:
        print(f"convert_pretrained: {e}", file=sys.stderr)
        return 1
    atomic_torch_save(_replace_state_dict(dict(checkpoint), converted), args.output)
    print(
        f"patch_embed.proj.weight {old_kernel} -> "
        f"{tuple(converted['patch_embed.proj.weight'].shape)}; pos_embed {old_pos} -> "
        f"{tuple(converted['pos_embed'].shape)}; wrote {args.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
