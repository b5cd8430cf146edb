"""Speed of det's vectorized soft-NMS against the per-box reference of mmcv 1.7.1's algorithm.

The reference is the one ``tests/layers/test_soft_nms.py`` checks det against (a per-box,
per-pair float32 NumPy translation of mmcv's C++ loop). It is O(N^2) Python operations, so it is
only run where it is expected to finish within ``--reference-budget`` seconds (estimated from
the 1k run); larger sizes report the estimate instead. Wherever the reference runs, the outputs
are also checked to be identical.

Usage::

    python benchmarks/soft_nms.py [--device cuda] [--sizes 1000 3000 10000 50000]

Writes its table to ``benchmarks/RESULTS.md`` between ``<!-- soft_nms -->`` markers.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from results_md import write_section

from det.layers import batched_soft_nms, soft_nms

__all__ = ["main"]

_ROOT = Path(__file__).resolve().parents[1]
_BEGIN, _END = "<!-- soft_nms -->", "<!-- /soft_nms -->"


def _load_reference():
    path = _ROOT / "tests" / "layers" / "test_soft_nms.py"
    spec = importlib.util.spec_from_file_location("_soft_nms_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reference_soft_nms


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _make_inputs(n: int, num_classes: int, seed: int = 0):
    """Detection-like candidates: boxes on a 1333 x 800 image, uniform scores, random classes."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, [1333, 800], (n, 2))
    wh = rng.uniform(8, 300, (n, 2))
    boxes = np.concatenate([xy, np.minimum(xy + wh, [1333, 800])], 1).astype(np.float32)
    scores = rng.uniform(0, 1, n).astype(np.float32)
    classes = rng.integers(0, num_classes, n)
    return boxes, scores, classes


def _time(fn, repeats: int) -> tuple[float, object]:
    out = fn()  # warm-up (and the result to check)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats, out


def _bench_case(n, class_wise, args, reference, ref_seconds_per_pair):
    num_classes = 80 if class_wise else 1
    boxes, scores, classes = _make_inputs(n, num_classes)
    device = torch.device(args.device)
    b, s, c = (torch.from_numpy(x).to(device) for x in (boxes, scores, classes))

    def run_det():
        if class_wise:
            out = batched_soft_nms(b, s, c, args.method, args.iou_threshold)
        else:
            out = soft_nms(b, s, args.method, args.iou_threshold)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return out

    det_s, (keep, new_scores) = _time(run_det, repeats=3 if n <= 10000 else 1)
    ref_boxes = boxes
    if class_wise:
        ref_boxes = boxes + (classes.astype(np.float32) * (boxes.max() + np.float32(1)))[:, None]
    estimate = ref_seconds_per_pair * n * n if ref_seconds_per_pair else None
    if estimate is None or estimate <= args.reference_budget:
        start = time.perf_counter()
        ref_keep, ref_scores = reference(ref_boxes, scores, args.method, args.iou_threshold)
        ref_s = time.perf_counter() - start
        same = np.array_equal(keep.cpu().numpy(), ref_keep) and np.allclose(
            new_scores.cpu().numpy(), ref_scores, rtol=0, atol=1e-6
        )
        ref_cell, speedup = f"{ref_s:.2f}", f"{ref_s / det_s:.0f}x"
        same_cell = "yes" if same else "**NO**"
        ref_seconds_per_pair = ref_s / (n * n)
    else:
        ref_cell = f"not run (est. {estimate:.0f})"
        speedup = f"~{estimate / det_s:.0f}x (est.)"
        same_cell = "-"
    row = (
        f"| {n:,} | {'class-wise (80)' if class_wise else 'joint'} | {len(keep):,} | "
        f"{det_s:.3f} | {ref_cell} | {speedup} | {same_cell} |"
    )
    print(row, flush=True)
    return row, ref_seconds_per_pair


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 10000, 50000])
    parser.add_argument("--method", default="linear", choices=["naive", "linear", "gaussian"])
    parser.add_argument("--iou-threshold", type=float, default=0.6)
    parser.add_argument("--reference-budget", type=float, default=60.0, help="seconds")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (the reference uses one)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    reference = _load_reference()
    device_name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else _cpu_name()
    lines = [
        "## Soft-NMS (`det.layers.soft_nms`, mmcv 1.7.1 semantics)",
        "",
        f"`python benchmarks/soft_nms.py --device {args.device} --threads {args.threads}`: "
        f"{args.method}, IoU threshold {args.iou_threshold}, min_score 1e-3; random boxes on a "
        f"1333x800 image, uniform scores. Device: {args.device} ({device_name}), "
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s), load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the start.",
        "Reference: the per-box NumPy translation of mmcv's loop that the tests compare against; "
        f"run only where estimated (O(N^2) from the smaller runs) to finish within "
        f"{args.reference_budget:.0f} s. Times in seconds per call.",
        "",
        "| boxes | mode | kept | det | reference | speed-up | identical |",
        "|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    per_pair = {False: None, True: None}
    for n in args.sizes:
        for class_wise in (False, True):
            row, per_pair[class_wise] = _bench_case(
                n, class_wise, args, reference, per_pair[class_wise]
            )
            lines.append(row)
    if not args.no_write:
        write_section(_BEGIN, _END, "\n".join(lines))


if __name__ == "__main__":
    main()
