#!/usr/bin/env python
"""Speed and peak memory of the segmentation backbones at 896: BEiT-L + ViT-Adapter and EVA-01
ViT-g (1B) + ViT-Adapter, each with and without activation checkpointing (``with_cp``).

The backbones are built from the model cards themselves
(``mask2former_beit_adapter_large_896_80k_ade20k_ss`` and
``eva01_mask2former_896_60k_cocostuff164k_ss``), so the widths, heads, MLP ratios, relative
position tables and adapter settings are the published ones. Measured: forward (eval, no grad)
and forward + backward (train mode, loss = mean of the squared four output maps), median wall
time after a warm-up, and peak memory on top of the weights and the input (the same definitions
as ``benchmarks/backbone.py``).

* CPU (default when no GPU): each ViT cut to 4 blocks (one per interaction), float32, one
  896 x 896 image, so the numbers scale to the full depth roughly by depth / 4 for the ViT part.
* CUDA: full depth (24 / 40 blocks), bf16 autocast (EVA-01 trains in fp16 / bf16), batch 1.

Results replace this script's section (per device type) in ``benchmarks/RESULTS.md``::

    python benchmarks/seg_backbone.py                 # CPU, or CUDA when available
    python benchmarks/seg_backbone.py --device cuda --repeats 5
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from backbone import _machine, _peak_mib, _time_ms
from results_md import RESULTS_MD, markdown_table, write_section

from det.config import LazyConfig, instantiate

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "BEiT-L + ViT-Adapter": (
        "projects/ViTAdapter/configs/ade20k/mask2former_beit_adapter_large_896_80k_ade20k_ss.py"
    ),
    "EVA-01 ViT-g + ViT-Adapter": (
        "projects/EVA01/configs/coco_stuff164k/eva01_mask2former_896_60k_cocostuff164k_ss.py"
    ),
}
SIZE = 896


def _build(config: str, depth: int | None, with_cp: bool, size: int, device: torch.device):
    cfg = LazyConfig.load(str(ROOT / config))
    backbone = cfg.model.backbone
    if depth is not None:
        backbone.vit.depth = depth
        backbone.interaction_indexes = [[i, i] for i in range(depth)]
    backbone.vit.img_size = size
    backbone.with_cp = with_cp
    backbone.vit.use_act_checkpoint = with_cp
    backbone.norm = "BN"  # SyncBN needs a process group; same compute on one device
    return instantiate(backbone).to(device)


def _step_fn(model, images: torch.Tensor, amp: bool, train: bool) -> Callable[[], None]:
    def run():
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=amp):
            return model(images)

    def forward_only() -> None:
        with torch.no_grad():
            run()

    def forward_backward() -> None:
        loss = sum(f.float().square().mean() for f in run().values())
        loss.backward()
        for p in model.parameters():
            p.grad = None

    model.train(train)
    return forward_backward if train else forward_only


def _run(
    name: str, config: str, device: torch.device, repeats: int, amp: bool, size: int
) -> list[dict]:
    depth = None if device.type == "cuda" else 4
    rows = []
    for with_cp in (False, True):
        torch.manual_seed(0)
        model = _build(config, depth, with_cp, size, device)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        images = torch.randn(1, 3, size, size, device=device)
        row = {
            "model": name,
            "ViT blocks": model.vit.depth,
            "params M": params,
            "with_cp": "yes" if with_cp else "no",
        }
        for mode, train in (("fwd", False), ("fwd+bwd", True)):
            if mode == "fwd" and with_cp:  # checkpointing changes nothing without grad
                row["fwd ms"] = rows[0]["fwd ms"]
                row["fwd peak MiB"] = rows[0]["fwd peak MiB"]
                continue
            fn = _step_fn(model, images, amp, train)
            row[f"{mode} peak MiB"] = _peak_mib(fn, device)
            row[f"{mode} ms"] = _time_ms(fn, device, repeats)
        rows.append(row)
        print(row, flush=True)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def _table(rows: list[dict]) -> str:
    columns = [
        "model",
        "ViT blocks",
        "params M",
        "with_cp",
        "fwd ms",
        "fwd peak MiB",
        "fwd+bwd ms",
        "fwd+bwd peak MiB",
    ]
    return markdown_table(rows, columns)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per measurement")
    parser.add_argument("--results", type=Path, default=RESULTS_MD, help="markdown file to update")
    parser.add_argument("--size", type=int, default=SIZE, help="image side (cards: 896)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if use_cuda else "cpu")
    rows = []
    for name, config in CASES.items():
        rows.extend(_run(name, config, device, args.repeats, use_cuda, args.size))
    kind = "CUDA" if use_cuda else "CPU"
    precision = "bf16 autocast, full depth" if use_cuda else "float32, ViT cut to 4 blocks"
    command = " ".join(["python benchmarks/seg_backbone.py", *argv]).strip()
    section = "\n".join(
        [
            f"## Segmentation backbones at {args.size}x{args.size} ({kind})",
            "",
            f"Written by `{command}` on {datetime.date.today().isoformat()}. Machine: "
            f"{_machine(device)}.",
            f"Batch 1, {precision}, median of {args.repeats} runs after one warm-up; peak memory "
            "is what the step allocates on top of the weights and the input. Without grad "
            "`with_cp` changes nothing, so its forward cells repeat the first row's.",
            "",
            _table(rows),
        ]
    )
    print(section)
    if not args.no_write:
        tag = "cuda" if use_cuda else "cpu"
        write_section(
            f"<!-- seg_backbone:{tag}:begin -->",
            f"<!-- seg_backbone:{tag}:end -->",
            section,
            args.results,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
