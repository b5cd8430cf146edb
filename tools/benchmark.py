#!/usr/bin/env python
"""Measure training speed, inference speed and data-loader throughput of a LazyConfig.

Methods follow detectron2's ``tools/benchmark.py``:

* ``train``: ``--num-batches`` batches are pulled from ``dataloader.train`` once and cached, then
  replayed by the config's trainer (``SimpleTrainer``, or ``AMPTrainer`` with
  ``train.amp.enabled``) for ``--warmup`` + ``--iters`` iterations; only the last ``--iters`` are
  timed, so data loading is (mostly) excluded. R-CNN speed depends on the data and on how well
  the model is trained (number of proposals and detections), so treat it as indicative.
* ``eval``: ``--num-batches`` test inputs are cached, ``--warmup`` forward passes run untimed,
  then ``--iters`` forward passes are timed (``torch.no_grad``, eval mode).
* ``data``: batches per second of ``dataloader.train`` itself after ``--warmup`` batches, with
  the host's peak memory.

On a GPU every timed interval starts and ends with ``torch.cuda.synchronize()``. One process;
the device is ``train.device`` (override ``train.device=cpu`` on a machine without CUDA).
Prints a summary and writes it as JSON to ``--output``. Example::

    python tools/benchmark.py --config-file cfg.py --task train,eval --output bench.json \\
        dataloader.train.total_batch_size=2
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import platform
import resource
import sys
import time
from typing import Any

import torch
from omegaconf import OmegaConf

from det.checkpoint import DetectionCheckpointer
from det.config import ConfigError, LazyConfig, instantiate
from det.engine import AMPTrainer, HookBase, SimpleTrainer, comma_separated_choices
from det.utils.errors import UserError
from det.utils.logger import setup_logger

logger = logging.getLogger("det.benchmark")

_TASKS = ("train", "eval", "data")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _opt(cfg: Any, key: str, default: Any) -> Any:
    value = OmegaConf.select(cfg, key, default=default)
    return default if value is None else value


class _StepTimer(HookBase):
    """Records the wall time of the iterations after ``warmup`` (synchronized on GPU)."""

    def __init__(self, warmup: int, device: torch.device) -> None:
        self.warmup = warmup
        self.device = device
        self.start: float | None = None
        self.end: float | None = None

    def before_step(self) -> None:
        if self.trainer.iter == self.warmup:
            _sync(self.device)
            self.start = time.perf_counter()

    def after_train(self) -> None:
        _sync(self.device)
        self.end = time.perf_counter()


def _build_model(cfg: Any) -> torch.nn.Module:
    device = str(_opt(cfg, "train.device", "cpu"))
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(
            f"train.device='{device}' but CUDA is not available; add the override train.device=cpu"
        )
    model = instantiate(cfg.model).to(device)
    init = str(_opt(cfg, "train.init_checkpoint", ""))
    if init:
        DetectionCheckpointer(model).load(init)
    return model


def _take(loader: Any, n: int) -> list:
    batches = list(itertools.islice(iter(loader), n))
    if not batches:
        raise UserError("The data loader yielded no batches; is the dataset empty?")
    return batches


def bench_train(cfg: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Training iterations per second on cached batches (see the module docstring)."""
    model = _build_model(cfg)
    model.train()
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    batches = _take(instantiate(cfg.dataloader.train), args.num_batches)
    data = itertools.cycle(batches)
    if _opt(cfg, "train.amp.enabled", False):
        precision = str(_opt(cfg, "train.amp.precision", "float16"))
        trainer = AMPTrainer(model, data, optimizer, precision=precision)
    else:
        trainer = SimpleTrainer(model, data, optimizer)
    device = next(model.parameters()).device
    timer = _StepTimer(args.warmup, device)
    trainer.register_hooks([timer])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    trainer.train(0, args.warmup + args.iters)
    seconds = timer.end - timer.start
    images = len(batches[0])
    result = {
        "iters": args.iters,
        "seconds": seconds,
        "s_per_iter": seconds / args.iters,
        "images_per_iter": images,
        "images_per_s": images * args.iters / seconds,
    }
    if device.type == "cuda":
        result["max_memory_allocated_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return result


def bench_eval(cfg: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Inference images per second on cached test inputs (see the module docstring)."""
    model = _build_model(cfg)
    model.eval()
    cfg.dataloader.test.num_workers = 0
    inputs = [
        x for batch in _take(instantiate(cfg.dataloader.test), args.num_batches) for x in batch
    ]
    device = next(model.parameters()).device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with torch.no_grad():
        for i in range(args.warmup):
            model([inputs[i % len(inputs)]])
        _sync(device)
        start = time.perf_counter()
        for i in range(args.iters):
            model([inputs[i % len(inputs)]])
        _sync(device)
        seconds = time.perf_counter() - start
    result = {
        "iters": args.iters,
        "seconds": seconds,
        "s_per_image": seconds / args.iters,
        "images_per_s": args.iters / seconds,
        "input_sizes": sorted({tuple(x["image"].shape[-2:]) for x in inputs}),
    }
    if device.type == "cuda":
        result["max_memory_allocated_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return result


def bench_data(cfg: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Throughput of ``dataloader.train`` (workers, mapping, batching), no model."""
    it = iter(instantiate(cfg.dataloader.train))
    for _ in range(args.warmup):
        next(it)
    start = time.perf_counter()
    images = 0
    for _ in range(args.iters):
        images += len(next(it))
    seconds = time.perf_counter() - start
    return {
        "iters": args.iters,
        "seconds": seconds,
        "batches_per_s": args.iters / seconds,
        "images_per_s": images / seconds,
        "num_workers": int(_opt(cfg, "dataloader.train.num_workers", 0)),
        # ru_maxrss is KiB on Linux; it includes this process only, not the loader workers.
        "main_process_max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _environment(cfg: Any) -> dict[str, Any]:
    env = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(_opt(cfg, "train.device", "cpu")),
        "num_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name()
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-file", required=True, metavar="FILE")
    parser.add_argument(
        "--task",
        type=comma_separated_choices(_TASKS),
        default=list(_TASKS),
        help="e.g. train,eval (default: all)",
    )
    parser.add_argument("--iters", type=int, default=100, help="timed iterations per task")
    parser.add_argument("--warmup", type=int, default=5, help="untimed iterations first")
    parser.add_argument("--num-batches", type=int, default=20, help="batches cached (train/eval)")
    parser.add_argument("--output", metavar="FILE", help="write the results as JSON")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides key=value")
    args = parser.parse_args(argv)
    if args.iters < 1 or args.warmup < 0 or args.num_batches < 1:
        parser.error("--iters and --num-batches must be >= 1, --warmup >= 0")
    setup_logger(name="det")
    benches = {"train": bench_train, "eval": bench_eval, "data": bench_data}
    try:
        cfg = LazyConfig.apply_overrides(LazyConfig.load(args.config_file), args.opts)
        results: dict[str, Any] = {"config_file": args.config_file, "env": _environment(cfg)}
        for task in args.task:
            logger.info(f"Benchmarking {task} ...")
            # Each task builds from a fresh copy: the train task writes optimizer.params.model.
            results[task] = benches[task](
                LazyConfig.apply_overrides(LazyConfig.load(args.config_file), args.opts), args
            )
    except (UserError, ConfigError) as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2

    print("Benchmark summary")
    for task in args.task:
        r = results[task]
        line = f"  {task:5s}: {r['images_per_s']:.2f} images/s over {r['iters']} iterations"
        if task == "train":
            line += f" ({r['s_per_iter']:.4f} s/iter, {r['images_per_iter']} images/iter)"
        elif task == "eval":
            line += f" ({r['s_per_image']:.4f} s/image)"
        else:
            line += f" ({r['batches_per_s']:.2f} batches/s)"
        print(line)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
        print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
