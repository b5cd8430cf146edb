#!/usr/bin/env python
"""Speed and peak memory of the EVA-02 ViT backbone: SDPA attention vs. a naive reference.

Both variants are the same ``det.modeling.backbone.ViT`` with the same weights; the reference
flips every block to ``xattn=False`` (explicit ``softmax(q k^T / sqrt(d)) v``, which holds the
N x N attention matrix, i.e. what the fork did without xformers). For each model the script
measures forward (eval, no grad) and forward + backward (train mode, loss = mean of squared
features) wall time (median over repeats after a warm-up) and peak memory, and checks that the
two variants give the same features.

* CPU (default when no GPU): a tiny ViT at 384 px and the ViT-B layout at 128 px, float32.
  Peak memory is the high-water mark of tensor memory allocated during the step,
  reconstructed from the profiler's allocation records (weights and inputs excluded).
* CUDA: ViT-B and ViT-L at 1024 and 1536 px with the model-card window layouts, fp16 autocast as
  in training, batch 1. Peak memory is ``torch.cuda.max_memory_allocated`` above the weights.

Results replace this script's section (per device type) in ``benchmarks/RESULTS.md``::

    python benchmarks/backbone.py                 # CPU, or CUDA when available
    python benchmarks/backbone.py --device cpu --repeats 3
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from results_md import RESULTS_MD, markdown_table, write_section
from torch import nn

from det.modeling.backbone import ViT

__all__ = ["main"]

_L_EVERY_3RD = (2, 5, 8, 11, 14, 17, 20, 23)


@dataclass(frozen=True)
class Case:
    name: str
    img_size: int
    window_size: int
    embed_dim: int
    depth: int
    num_heads: int
    global_blocks: tuple[int, ...]


CPU_CASES = [
    Case("tiny (192/12/3), win 8", 384, 8, 192, 12, 3, (2, 5, 8, 11)),
    Case("B layout (768/12/12), win 4", 128, 4, 768, 12, 12, (2, 5, 8, 11)),
]
CUDA_CASES = [
    Case("B, 4 global, win 16", 1024, 16, 768, 12, 12, (2, 5, 8, 11)),
    Case("B, 6 global, win 32", 1536, 32, 768, 12, 12, (1, 3, 5, 7, 9, 11)),
    Case("L, 4 global, win 16", 1024, 16, 1024, 24, 16, (5, 11, 17, 23)),
    Case("L, 8 global, win 32", 1536, 32, 1024, 24, 16, _L_EVERY_3RD),
]


def _build(case: Case, device: torch.device) -> ViT:
    model = ViT(
        img_size=case.img_size,
        embed_dim=case.embed_dim,
        depth=case.depth,
        num_heads=case.num_heads,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
        window_size=case.window_size,
        window_block_indexes=[i for i in range(case.depth) if i not in case.global_blocks],
    )
    return model.to(device)


def _set_attention(model: ViT, sdpa: bool) -> None:
    for block in model.blocks:
        block.attn.xattn = sdpa


def _forward(model: ViT, images: torch.Tensor, amp: bool) -> torch.Tensor:
    with torch.autocast(images.device.type, dtype=torch.float16, enabled=amp):
        return model(images)["last_feat"]


def _step_fn(model: ViT, images: torch.Tensor, amp: bool, train: bool) -> Callable[[], None]:
    def forward_only() -> None:
        with torch.no_grad():
            _forward(model, images, amp)

    def forward_backward() -> None:
        loss = _forward(model, images, amp).float().square().mean()
        loss.backward()
        for p in model.parameters():
            p.grad = None

    model.train(train)
    return forward_backward if train else forward_only


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_ms(fn: Callable[[], None], device: torch.device, repeats: int) -> float:
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _peak_mib(fn: Callable[[], None], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        _sync(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    return _cpu_peak_bytes(fn) / 2**20


def _cpu_peak_bytes(fn: Callable[[], None]) -> int:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    # Ops carry the bytes they allocated (net of their own temporaries); frees outside ops are
    # separate "[memory]" records. Replaying both in time order gives the live-bytes curve.
    deltas = []
    for event in prof.events():
        if event.name == "[memory]":
            deltas.append((event.time_range.start, event.cpu_memory_usage))
        elif event.self_cpu_memory_usage:
            deltas.append((event.time_range.end, event.self_cpu_memory_usage))
    live = peak = 0
    for _, delta in sorted(deltas):
        live += delta
        peak = max(peak, live)
    return peak


def _run_case(case: Case, device: torch.device, repeats: int, amp: bool) -> list[dict]:
    torch.manual_seed(0)
    model = _build(case, device)
    images = torch.randn(1, 3, case.img_size, case.img_size, device=device)
    rows = []
    features = {}
    for label, sdpa in (("SDPA (xattn=True)", True), ("naive reference", False)):
        _set_attention(model, sdpa)
        model.eval()
        with torch.no_grad():
            features[sdpa] = _forward(model, images, amp).float()
        row = {"model": case.name, "input": f"{case.img_size}px", "attention": label}
        for mode, train in (("fwd", False), ("fwd+bwd", True)):
            fn = _step_fn(model, images, amp, train)
            row[f"{mode} peak MiB"] = _peak_mib(fn, device)
            row[f"{mode} ms"] = _time_ms(fn, device, repeats)
        rows.append(row)
        print(row, flush=True)
    scale = features[False].abs().max().item()
    diff = (features[True] - features[False]).abs().max().item() / max(scale, 1e-12)
    for row in rows:
        row["max rel. diff"] = diff
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


def _machine(device: torch.device) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    parts = [f"CPU {cpu} ({os.cpu_count()} logical cores, torch threads {torch.get_num_threads()})"]
    if device.type == "cuda":
        parts.insert(0, f"GPU {torch.cuda.get_device_name(device)}")
    if hasattr(os, "getloadavg"):
        # A shared machine's load explains noisy or slow numbers.
        parts.append(f"load average {os.getloadavg()[0]:.1f} at the end")
    parts.append(f"torch {torch.__version__}, Python {platform.python_version()}")
    return "; ".join(parts)


def _table(rows: list[dict]) -> str:
    columns = [
        "model",
        "input",
        "attention",
        "fwd ms",
        "fwd peak MiB",
        "fwd+bwd ms",
        "fwd+bwd peak MiB",
        "max rel. diff",
    ]
    return markdown_table(rows, columns, {"max rel. diff": "{:.1e}"})


def _section(device: torch.device, rows: list[dict], repeats: int, amp: bool, argv: list[str]):
    kind = "CUDA" if device.type == "cuda" else "CPU"
    precision = "fp16 autocast" if amp else "float32"
    date = datetime.date.today().isoformat()
    command = " ".join(["python benchmarks/backbone.py", *argv]).strip()
    return "\n".join(
        [
            f"## EVA-02 ViT backbone ({kind})",
            "",
            f"Written by `{command}` on {date}. Machine: {_machine(device)}.",
            f"Batch 1, {precision}, median of {repeats} runs after one warm-up; peak memory is "
            "what the step allocates on top of the weights and inputs. Both rows of a model "
            "use the same weights; `max rel. diff` compares their features.",
            "",
            _table(rows),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement")
    parser.add_argument("--results", type=Path, default=RESULTS_MD, help="markdown file to update")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if use_cuda else "cpu")
    cases = CUDA_CASES if use_cuda else CPU_CASES
    rows = []
    for case in cases:
        rows.extend(_run_case(case, device, args.repeats, amp=use_cuda))
    section = _section(device, rows, args.repeats, use_cuda, argv)
    print(section)
    if not args.no_write:
        kind = "cuda" if use_cuda else "cpu"
        begin, end = f"<!-- backbone:{kind}:begin -->", f"<!-- backbone:{kind}:end -->"
        write_section(begin, end, section, args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
