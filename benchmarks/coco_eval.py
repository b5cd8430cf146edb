"""COCO evaluation time: pycocotools called directly vs det's COCOEvaluator, same predictions.

Synthetic COCO-like ground truth (default 5000 images of 480x640, ~7 objects each, 80 classes) and
100 detections per image (jittered copies of the objects plus random boxes). Three paths, all on
the same predictions, must give identical stats:

* ``pycocotools``: result dicts built with NumPy, then ``loadRes`` + ``COCOeval``
  evaluate / accumulate / summarize (what a user script does);
* ``det``: ``COCOEvaluator.process`` on ``Instances`` for every image (XYXY -> XYWH, id mapping,
  compact per-image records), then ``COCOEvaluator.evaluate`` (result dicts, pycocotools);
* ``det + faster-coco-eval`` (``use_fast_impl=True``), only if ``faster_coco_eval`` is importable.

Usage::

    python benchmarks/coco_eval.py                   # bbox, 5000 x 100 (minutes on 2 cores)
    python benchmarks/coco_eval.py --num-images 500  # quick
    python benchmarks/coco_eval.py --segm --num-images 500 --dets-per-image 50

The table is printed and written into ``benchmarks/RESULTS.md`` between the ``coco_eval``
markers (``--no-write`` to skip).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np
import pycocotools.mask as mask_util
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from results_md import write_section  # noqa: E402

from det.data.catalog import MetadataCatalog  # noqa: E402
from det.evaluation import COCOEvaluator  # noqa: E402
from det.structures import Boxes, Instances  # noqa: E402

__all__ = ["main"]

_MARK_BEGIN, _MARK_END = "<!-- coco_eval -->", "<!-- /coco_eval -->"


def _synthetic(args, rng):
    h, w = args.image_size
    # COCO-like dataset ids: 1..90 with gaps, as in instances_val2017.json
    cat_ids = [i for i in range(1, 91) if i not in {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}]
    cat_ids = cat_ids[: args.num_classes]
    images, anns, preds = [], [], []
    for img_id in range(1, args.num_images + 1):
        images.append({"id": img_id, "height": h, "width": w, "file_name": f"{img_id:012d}.jpg"})
        n = int(rng.poisson(args.gt_per_image))
        wh = rng.uniform(8, 0.5 * min(h, w), size=(n, 2))
        xy = rng.uniform(0, 1, size=(n, 2)) * ([w, h] - wh)
        cls = rng.integers(0, len(cat_ids), size=n)
        for (x, y), (bw, bh), c in zip(xy, wh, cls):
            ann = {
                "id": len(anns) + 1,
                "image_id": img_id,
                "category_id": cat_ids[c],
                "bbox": [float(x), float(y), float(bw), float(bh)],
                "area": float(bw * bh),
                "iscrowd": 0,
            }
            if args.segm:
                x1, y1 = x + bw, y + bh
                ann["segmentation"] = [[float(v) for v in (x, y, x1, y, x1, y1, x, y1)]]
            anns.append(ann)
        d = args.dets_per_image
        src = rng.integers(0, max(n, 1), size=d)
        jitter = rng.normal(0, 0.1, size=(d, 4))
        if n:
            boxes = np.concatenate([xy[src], xy[src] + wh[src]], axis=1)
            size = np.concatenate([wh[src], wh[src]], axis=1)
            boxes = boxes + jitter * size
            classes = np.where(rng.random(d) < 0.8, cls[src], rng.integers(0, len(cat_ids), d))
        else:
            boxes = np.zeros((d, 4))
            classes = rng.integers(0, len(cat_ids), d)
        # a third of the detections are random boxes
        rand = rng.random(d) < 1 / 3
        rwh = rng.uniform(8, 0.5 * min(h, w), size=(d, 2))
        rxy = rng.uniform(0, 1, size=(d, 2)) * ([w, h] - rwh)
        boxes[rand] = np.concatenate([rxy, rxy + rwh], axis=1)[rand]
        boxes = np.clip(boxes, 0, [w, h, w, h]).astype(np.float32)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        preds.append(
            {
                "image_id": img_id,
                "boxes": boxes,
                "scores": rng.uniform(0.05, 1, size=d).astype(np.float32),
                "classes": classes.astype(np.int64),
            }
        )
    categories = [{"id": c, "name": f"class{c}"} for c in cat_ids]
    return {"images": images, "annotations": anns, "categories": categories}, preds, cat_ids


def _masks(pred, h, w):
    """Box-shaped masks at full image size (what a mask head's pasted output looks like)."""
    masks = torch.zeros(len(pred["boxes"]), h, w, dtype=torch.bool)
    for i, (x0, y0, x1, y1) in enumerate(np.round(pred["boxes"]).astype(int)):
        masks[i, y0:y1, x0:x1] = True
    return masks


def _time(fn):
    """Run ``fn``; return its output and the CPU seconds it took (robust on a shared machine)."""
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


def _timed_path(repeats, fn, *args, **kwargs):
    """Run a path ``repeats`` times; keep the run with the least total CPU time."""
    best = None
    for _ in range(repeats):
        start = time.perf_counter()
        stats, timings = fn(*args, **kwargs)
        run = (stats, timings, time.perf_counter() - start)
        if best is None or sum(timings.values()) < sum(best[1].values()):
            best = run
    return best


def _run_pycocotools(json_file, preds, cat_ids, args):
    lut = np.array(cat_ids)
    h, w = args.image_size
    timings = {}

    def to_results():
        results = []
        for p in preds:
            xywh = p["boxes"].copy()
            xywh[:, 2:] -= xywh[:, :2]
            rles = None
            if args.segm:
                rles = mask_util.encode(
                    np.asfortranarray(_masks(p, h, w).permute(1, 2, 0).numpy().astype(np.uint8))
                )
            for i, (box, score, c) in enumerate(
                zip(xywh.tolist(), p["scores"].tolist(), lut[p["classes"]].tolist())
            ):
                r = {"image_id": p["image_id"], "category_id": c, "bbox": box, "score": score}
                if rles is not None:
                    r["segmentation"] = rles[i]
                results.append(r)
        return results

    results, timings["results"] = _time(to_results)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(json_file)
    stats = {}
    for task in ["bbox"] + (["segm"] if args.segm else []):
        if task == "segm":
            results = [{k: v for k, v in r.items() if k != "bbox"} for r in results]
        with contextlib.redirect_stdout(io.StringIO()):
            dt, t_load = _time(lambda: gt.loadRes(results))  # noqa: B023
            ev = COCOeval(gt, dt, task)
            _, t_eval = _time(ev.evaluate)
            _, t_acc = _time(ev.accumulate)
            _, t_sum = _time(ev.summarize)
        timings[f"{task} loadRes"] = t_load
        timings[f"{task} evaluate"] = t_eval
        timings[f"{task} accumulate+summarize"] = t_acc + t_sum
        stats[task] = [float(s * 100) if s >= 0 else float("nan") for s in ev.stats[:6]]
    return stats, timings


def _run_det(name, preds, args, use_fast_impl=False):
    h, w = args.image_size
    evaluator = COCOEvaluator(name, use_fast_impl=use_fast_impl)
    evaluator.reset()

    def process():
        for p in preds:
            inst = Instances((h, w))
            inst.pred_boxes = Boxes(torch.from_numpy(p["boxes"]))
            inst.scores = torch.from_numpy(p["scores"])
            inst.pred_classes = torch.from_numpy(p["classes"])
            if args.segm:
                inst.pred_masks = _masks(p, h, w)
            evaluator.process([{"image_id": p["image_id"]}], [{"instances": inst}])

    _, t_process = _time(process)
    results, t_eval = _time(evaluator.evaluate)
    metrics = ["AP", "AP50", "AP75", "APs", "APm", "APl"]
    stats = {task: [results[task][m] for m in metrics] for task in results}
    return stats, {"process": t_process, "evaluate": t_eval}


def _same(a, b):
    return all(x == y or (np.isnan(x) and np.isnan(y)) for x, y in zip(a, b))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-images", type=int, default=5000)
    parser.add_argument("--dets-per-image", type=int, default=100)
    parser.add_argument("--gt-per-image", type=float, default=7.3, help="Poisson mean (COCO: 7.3)")
    parser.add_argument("--num-classes", type=int, default=80)
    parser.add_argument("--image-size", type=int, nargs=2, default=[480, 640], metavar=("H", "W"))
    parser.add_argument("--segm", action="store_true", help="also evaluate box-shaped masks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="report each path's fastest run")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    (gt, preds, cat_ids), t_gen = _time(lambda: _synthetic(args, rng))
    num_dets = sum(len(p["scores"]) for p in preds)
    print(
        f"{args.num_images} images, {len(gt['annotations'])} GT objects, {num_dets} detections "
        f"(generated in {t_gen:.1f} s)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        json_file = os.path.join(tmp, "instances_bench.json")
        with open(json_file, "w") as f:
            json.dump(gt, f)
        del gt
        name = f"coco_eval_benchmark_{os.getpid()}"
        MetadataCatalog.get(name).set(
            json_file=json_file,
            thing_classes=[f"class{c}" for c in cat_ids],
            thing_dataset_id_to_contiguous_id={c: i for i, c in enumerate(cat_ids)},
        )
        ref_stats, ref_t, ref_wall = _timed_path(
            args.repeats, _run_pycocotools, json_file, preds, cat_ids, args
        )
        print(f"pycocotools: {sum(ref_t.values()):.1f} CPU s, {ref_wall:.1f} s wall {ref_t}")
        rows = [("pycocotools (direct)", ref_t, ref_wall, "reference")]
        paths = [("det COCOEvaluator", False)]
        try:
            import faster_coco_eval

            version = faster_coco_eval.__version__
            paths.append((f"det, `use_fast_impl=True` (faster-coco-eval {version})", True))
        except ImportError:
            print("faster_coco_eval not importable: skipping use_fast_impl=True")
        for label, fast in paths:
            stats, t, wall = _timed_path(
                args.repeats, _run_det, name, preds, args, use_fast_impl=fast
            )
            same = all(_same(stats[k], ref_stats[k]) for k in ref_stats)
            rows.append((label, t, wall, "yes" if same else "NO"))
            print(f"{label}: {sum(t.values()):.1f} CPU s, {wall:.1f} s wall {t}")

    tasks = "bbox" + (" + segm" if args.segm else "")
    command = " ".join(["python benchmarks/coco_eval.py", *(argv or sys.argv[1:])])
    lines = [
        "## COCO evaluation time (`benchmarks/coco_eval.py`)",
        "",
        f"Synthetic COCO-like set: {args.num_images} images ({args.image_size[0]}x"
        f"{args.image_size[1]}), {args.num_classes} classes, {args.dets_per_image} detections "
        f"per image ({num_dets} in all), task: {tasks}. CPU: {platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}, numpy {np.__version__}.",
        f"Command: `{command}`",
        "",
        "| path | stages (CPU s) | total CPU s | wall s | identical stats |",
        "|---|---|---:|---:|:---:|",
    ]
    for label, t, wall, same in rows:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in t.items())
        lines.append(f"| {label} | {stages} | {sum(t.values()):.1f} | {wall:.1f} | {same} |")
    lines.append("")
    lines.append(
        f"bbox AP of the synthetic predictions: {ref_stats['bbox'][0]:.4f}. CPU seconds of the "
        "benchmark process (the machine may be shared; wall time is given for reference). "
        "`results`: NumPy arrays to COCO result dicts (+ mask RLE encoding with --segm); "
        "`process`: `COCOEvaluator.process` on `Instances` (compact records, RLE encoding); "
        "`evaluate`: result dicts + loadRes + COCOeval (or faster-coco-eval). The "
        "faster-coco-eval row appears only when that optional package (not a det dependency) "
        "is importable."
    )
    table = "\n".join(lines)
    print("\n" + table)
    if not args.no_write:
        write_section(_MARK_BEGIN, _MARK_END, table)


if __name__ == "__main__":
    main()
