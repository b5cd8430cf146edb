#!/usr/bin/env python
"""Plot training curves from the ``metrics.json`` of one or more output directories.

Writes into ``--output`` (default ``<first run>/plots``):

* ``loss.png``: ``total_loss`` and every ``loss_*`` key, one panel per key;
* ``lr.png``: the learning rate;
* ``ap.png``: evaluation results over iterations (``bbox/AP``, ``segm/AP``, ``sem_seg/mIoU``, ...);
* ``custom.png`` with ``--keys``: any other scalar keys.

Runs are overlaid in each panel and labeled by their directory name. Example::

    python tools/plot_metrics.py output/run_a output/run_b --output plots/ --smooth 20
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402

# Evaluation metrics shown in ap.png: "<task>/<metric>" keys written by the evaluators.
_EVAL_METRIC = re.compile(r"^[^/]+/(AP|AP50|AP75|APr|APc|APf|mIoU|mACC)$")
_LOSS = re.compile(r"^(total_loss|loss_.*)$")

Series = dict[str, list[tuple[int, float]]]


def read_metrics(path: str) -> Series:
    """Reads a ``metrics.json`` (JSON lines) into ``{key: [(iteration, value), ...]}``.

    A resumed run may repeat iterations: the last line for an iteration wins. A damaged line
    (e.g. the last line of a run that was killed mid-write) is skipped with a warning.

    Args:
        path: a ``metrics.json`` file or an output directory containing one.

    Raises:
        FileNotFoundError: naming the missing file.
    """
    if os.path.isdir(path):
        path = os.path.join(path, "metrics.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No metrics file '{path}' (expected <output_dir>/metrics.json)")
    by_iter: dict[int, dict[str, float]] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                iteration = int(record.pop("iteration"))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                print(f"warning: {path}:{lineno}: not a metrics record, skipped", file=sys.stderr)
                continue
            scalars = {k: float(v) for k, v in record.items() if isinstance(v, (int, float))}
            by_iter.setdefault(iteration, {}).update(scalars)
    series: Series = {}
    for iteration in sorted(by_iter):
        for key, value in by_iter[iteration].items():
            series.setdefault(key, []).append((iteration, value))
    return series


def _smooth(values: list[float], window: int) -> list[float]:
    if window <= 1:
        return values
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def plot_panels(runs: dict[str, Series], keys: Sequence[str], path: str, smooth: int = 1) -> bool:
    """Draws one panel per key with every run that has it; returns False if nothing to draw.

    Args:
        runs: run label -> its series (see :func:`read_metrics`).
        keys: metric keys, one panel each.
        path: output PNG.
        smooth: moving-average window over logged points (1: raw values).
    """
    keys = [k for k in keys if any(k in s for s in runs.values())]
    if not keys:
        return False
    cols = min(3, len(keys))
    rows = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        for k, (label, series) in enumerate(runs.items()):
            if key not in series:
                continue
            its, vals = zip(*series[key])
            marker = "o" if len(its) < 20 else None
            # One color per run in every panel, also where another run lacks the key.
            values = _smooth(list(vals), smooth)
            ax.plot(its, values, label=label, color=f"C{k}", marker=marker, markersize=3)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("iteration", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if len(runs) > 1:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def _labels(paths: Sequence[str]) -> list[str]:
    names = [os.path.basename(os.path.normpath(p)) or p for p in paths]
    names = [
        os.path.basename(os.path.dirname(os.path.normpath(p))) if n == "metrics.json" else n
        for n, p in zip(names, paths)
    ]
    if len(set(names)) == len(names):
        return names
    return [os.path.normpath(p) for p in paths]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="output directories (or metrics.json files)")
    parser.add_argument("--output", help="folder for the PNGs (default: <first run>/plots)")
    parser.add_argument("--smooth", type=int, default=1, help="moving-average window (points)")
    parser.add_argument("--keys", nargs="*", default=[], help="extra keys to plot in custom.png")
    args = parser.parse_args(argv)

    try:
        runs = {label: read_metrics(p) for label, p in zip(_labels(args.runs), args.runs)}
    except FileNotFoundError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    first = args.runs[0] if os.path.isdir(args.runs[0]) else os.path.dirname(args.runs[0])
    out_dir = args.output or os.path.join(first, "plots")
    os.makedirs(out_dir, exist_ok=True)

    all_keys = sorted({k for s in runs.values() for k in s})
    loss_keys = sorted((k for k in all_keys if _LOSS.match(k)), key=lambda k: k != "total_loss")
    eval_keys = [k for k in all_keys if _EVAL_METRIC.match(k)]
    missing = [k for k in args.keys if k not in all_keys]
    if missing:
        print(f"warning: keys not found in any run: {missing}", file=sys.stderr)
    plots = [
        ("loss.png", loss_keys, args.smooth),
        ("lr.png", ["lr"], 1),
        ("ap.png", eval_keys, 1),
        ("custom.png", list(args.keys), args.smooth),
    ]
    written = []
    for name, keys, smooth in plots:
        path = os.path.join(out_dir, name)
        if plot_panels(runs, keys, path, smooth=smooth):
            written.append(path)
    if not written:
        print("Error: no loss, lr or evaluation keys found in the metrics files", file=sys.stderr)
        return 1
    for path in written:
        print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
