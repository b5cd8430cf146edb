#!/usr/bin/env python
"""Regenerate the example images of the README's Tools section from the two demo runs.

Trains the demo configs (skipped when ``<work-dir>/<family>/model_final.pth`` exists), then runs
each tool exactly as the README's Tools section shows it and copies one output per tool to
``docs/images/`` (PNG, palette-quantized when needed to stay under 200 KB)::

    python docs/make_examples.py                 # both families, a few minutes on a CPU
    python docs/make_examples.py --families det  # only the detection examples

The synthetic datasets are written under ``$DETECTRON2_DATASETS`` (default ``./datasets``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = os.path.join(REPO, "docs", "images")
MAX_BYTES = 200 * 1024

FAMILIES = {
    "det": {
        "config": "projects/ViTDet/configs/demo/eva2_tiny_cascade_synthetic.py",
        "val_dataset": "synthetic_coco_val",
        "val_image": "synthetic/coco/val2017/000000000008.jpg",  # person, dog and car
        "predictions": "coco_instances_results.json",
    },
    "seg": {
        "config": "projects/Mask2Former/configs/demo/maskformer_tiny_synthetic_ade20k.py",
        "val_dataset": "synthetic_ade20k_sem_seg_val",
        "val_image": "synthetic/ADEChallengeData2016/images/validation/ADE_val_00000001.jpg",
        "predictions": "sem_seg_predictions.json",
    },
}


def _run(args: list[str]) -> None:
    print("+", " ".join(args), flush=True)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run([sys.executable, *args], cwd=REPO, env=env, check=True)


def save_small(src: str, name: str) -> str:
    """Copies ``src`` to ``docs/images/<name>``; quantizes to a palette if it is too large."""
    os.makedirs(IMAGES, exist_ok=True)
    dst = os.path.join(IMAGES, name)
    image = Image.open(src).convert("RGB")
    image.save(dst, optimize=True)
    if os.path.getsize(dst) > MAX_BYTES:
        image.quantize(colors=128).save(dst, optimize=True)
    if os.path.getsize(dst) > MAX_BYTES:
        raise RuntimeError(f"{dst} is {os.path.getsize(dst)} bytes even after quantization")
    print(f"wrote {os.path.relpath(dst, REPO)} ({os.path.getsize(dst)} bytes)")
    return dst


def _side_by_side(paths: list[str], out: str) -> str:
    images = [Image.open(p).convert("RGB") for p in paths]
    canvas = Image.new(
        "RGB",
        (sum(i.width for i in images) + 8 * (len(images) - 1), max(i.height for i in images)),
        (255, 255, 255),
    )
    x = 0
    for image in images:
        canvas.paste(image, (x, 0))
        x += image.width + 8
    canvas.save(out)
    return out


def make_family(family: str, work: str, datasets: str) -> str:
    """Trains (if needed) and runs every tool for one demo config; returns its run folder."""
    spec = FAMILIES[family]
    run = os.path.join(work, family)
    checkpoint = os.path.join(run, "model_final.pth")
    if not os.path.isfile(checkpoint):
        _run(
            [
                "tools/lazyconfig_train_net.py",
                "--config-file",
                spec["config"],
                f"train.output_dir={run}",
                f"dataloader.evaluator.output_dir={run}/inference",
                # Evaluations during training give the AP curves of plot_ap.png.
                "train.eval_period=100",
            ]
        )
    demo_out = os.path.join(work, f"{family}_demo")
    _run(
        [
            "tools/demo.py",
            "--config-file",
            spec["config"],
            "--input",
            os.path.join(datasets, spec["val_image"]),
            "--output",
            demo_out,
            "--opts",
            f"train.init_checkpoint={checkpoint}",
        ]
    )
    stem = os.path.splitext(os.path.basename(spec["val_image"]))[0]
    save_small(os.path.join(demo_out, f"{stem}.png"), f"demo_{family}.png")

    vis_out = os.path.join(work, f"{family}_vis_json")
    _run(
        [
            "tools/visualize_json_results.py",
            "--input",
            os.path.join(run, "inference", spec["predictions"]),
            "--dataset",
            spec["val_dataset"],
            "--output",
            vis_out,
        ]
    )
    save_small(os.path.join(vis_out, f"{stem}.png"), f"vis_json_{family}.png")

    data_out = os.path.join(work, f"{family}_vis_data")
    shutil.rmtree(data_out, ignore_errors=True)
    _run(
        [
            "tools/visualize_data.py",
            "--config-file",
            spec["config"],
            "--output",
            data_out,
            "--num-images",
            "3",
        ]
    )
    pngs = [os.path.join(data_out, p) for p in sorted(os.listdir(data_out))]
    combined = _side_by_side(pngs, os.path.join(work, f"{family}_vis_data.png"))
    save_small(combined, f"vis_data_{family}.png")
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", default=os.path.join(REPO, "output", "docs_examples"))
    parser.add_argument("--families", nargs="+", choices=sorted(FAMILIES), default=["det", "seg"])
    args = parser.parse_args()
    # Relative roots are read from the repository root, where the tools run.
    datasets = os.path.join(REPO, os.environ.get("DETECTRON2_DATASETS", "datasets"))
    runs = [make_family(f, args.work_dir, datasets) for f in args.families]
    plots = os.path.join(args.work_dir, "plots")
    # Losses of the first run only (the two models have different losses), AP of all runs.
    _run(["tools/plot_metrics.py", runs[0], "--output", plots + "_first", "--smooth", "5"])
    save_small(os.path.join(plots + "_first", "loss.png"), "plot_loss.png")
    _run(["tools/plot_metrics.py", *runs, "--output", plots])
    save_small(os.path.join(plots, "ap.png"), "plot_ap.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
