"""Training-loader throughput for COCO large-scale jitter (LSJ) at a given resolution.

Writes a synthetic COCO-format dataset (real on-disk layout, JPEG images of COCO-like size,
polygon + RLE masks), builds the same train loader as ``configs/common/data/coco_lsj.py``
(flip -> ResizeScale(0.1, 2.0) -> FixedSizeCrop, masks recomputed into boxes) and reports
images/s after warm-up, for several worker counts. The reference in the same run is the bare
mapper called in a loop (no DataLoader), so the loader's own overhead is visible.

    python benchmarks/data_loader.py --image-size 1024 --workers 0 2 --iters 40

Results go to ``benchmarks/RESULTS.md`` between the ``data_loader`` markers.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch
from results_md import write_section

from det.config import LazyConfig, instantiate
from det.data import DatasetCatalog
from det.data.datasets.synthetic import register_synthetic_coco

__all__ = ["main"]


def _time_loader(loader, iters: int, warmup: int, batch: int) -> float:
    """Return images/s over ``iters`` batches after ``warmup`` batches."""
    it = iter(loader)
    for _ in range(warmup):
        next(it)
    start = time.perf_counter()
    for _ in range(iters):
        next(it)
    return iters * batch / (time.perf_counter() - start)


def _time_mapper(mapper, dicts: list[dict], n: int) -> float:
    """Return images/s of the bare mapper over ``n`` calls (cycling through ``dicts``)."""
    start = time.perf_counter()
    for i in range(n):
        mapper(dicts[i % len(dicts)])
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=1024)
    parser.add_argument("--num-images", type=int, default=32)
    parser.add_argument("--source-size", type=int, nargs=2, default=(480, 640), help="H W")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as root:
        name = "bench_lsj_train"
        register_synthetic_coco(
            name,
            root,
            split="train2017",
            num_images=args.num_images,
            image_size=tuple(args.source_size),
        )
        cfg = LazyConfig.load(str(Path(__file__).parents[1] / "configs/common/data/coco_lsj.py"))
        cfg.dataloader.train.dataset.names = name
        cfg.dataloader.train.mapper.augmentations.image_size = args.image_size
        cfg.dataloader.train.total_batch_size = args.batch
        dicts = DatasetCatalog.get(name)
        mapper = instantiate(cfg.dataloader.train.mapper)
        n_ref = args.iters * args.batch
        rows = [("mapper only (reference)", 0, _time_mapper(mapper, dicts, n_ref))]
        for workers in args.workers:
            cfg.dataloader.train.num_workers = workers
            loader = instantiate(cfg.dataloader.train)
            rows.append(("train loader", workers, _time_loader(loader, args.iters, 2, args.batch)))
            del loader

    lines = [
        f"## LSJ train loader, {args.image_size}x{args.image_size}",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch "
        f"thread(s), {len(__import__('os').sched_getaffinity(0))} cores; source images "
        f"{args.source_size[0]}x{args.source_size[1]}, batch {args.batch}, {args.iters} batches "
        "after 2 warm-up. Command: `python benchmarks/data_loader.py`.",
        "",
        "| what | workers | images/s |",
        "|---|---|---|",
    ]
    lines += [f"| {what} | {w} | {ips:.1f} |" for what, w, ips in rows]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("<!-- data_loader -->", "<!-- /data_loader -->", text)


if __name__ == "__main__":
    main()
