#!/usr/bin/env python
"""Draw saved predictions next to the ground truth of a registered dataset.

Reads what the evaluators write to ``<output_dir>/inference/``: ``coco_instances_results.json``
(COCOEvaluator / LVISEvaluator; ``image_id``, dataset ``category_id``, XYWH ``bbox``, ``score``,
optional RLE ``segmentation``) or ``sem_seg_predictions.json`` (SemSegEvaluator; per image
``file_name`` and per class an RLE ``segmentation``). For each image of the dataset that has
predictions, writes ``<output>/<image stem>.png``: predictions on the left, ground truth on the
right. Example::

    python tools/visualize_json_results.py --input output/inference/coco_instances_results.json \\
        --dataset coco_2017_val --output vis/ --conf-threshold 0.5
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict

import numpy as np
import pycocotools.mask as mask_util
import torch
from PIL import Image

from det.data import DatasetCatalog, MetadataCatalog
from det.data.detection_utils import read_image
from det.structures import Boxes, BoxMode, Instances
from det.utils.errors import UserError
from det.utils.visualizer import Visualizer

_GAP = 8  # white pixels between the two panels
_DETECTION_KEYS = ("image_id", "category_id", "bbox", "score")
_SEM_SEG_KEYS = ("file_name", "category_id", "segmentation")
_EXPECTED = (
    "a JSON list of COCO result dicts with "
    + ", ".join(_DETECTION_KEYS)
    + " (coco_instances_results.json) or with "
    + ", ".join(_SEM_SEG_KEYS)
    + " (sem_seg_predictions.json)"
)


def read_predictions(path: str) -> list[dict]:
    """The prediction list of an evaluator's JSON file, checked for the keys this tool reads.

    Raises:
        UserError: the file is missing, is not valid JSON (naming the line, column and what the
            parser expected there), or is not a list of result dicts with the expected keys.
    """
    if not os.path.isfile(path):
        raise UserError(f"--input '{path}' does not exist")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        results = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(
            f"--input '{path}' is not valid JSON: {e.msg} at line {e.lineno} column {e.colno} "
            f"(char {e.pos}); expected {_EXPECTED}"
        ) from None
    if not isinstance(results, list):
        raise UserError(
            f"--input '{path}' holds a JSON {type(results).__name__}; expected {_EXPECTED}"
        )
    if not results:
        return results
    keys = (
        _SEM_SEG_KEYS
        if isinstance(results[0], dict) and "file_name" in results[0]
        else (_DETECTION_KEYS)
    )
    for i, r in enumerate(results):
        missing = [k for k in keys if k not in r] if isinstance(r, dict) else list(keys)
        if missing:
            got = sorted(r) if isinstance(r, dict) else type(r).__name__
            raise UserError(
                f"--input '{path}': entry {i} lacks {', '.join(missing)} (got {got}); "
                f"expected {_EXPECTED}"
            )
    return results


def _contiguous_ids(meta, key: str) -> dict[int, int] | None:
    mapping = meta.get(key)
    return {int(k): int(v) for k, v in mapping.items()} if mapping else None


def instances_from_results(
    results: list[dict], image_size: tuple[int, int], id_map: dict[int, int] | None
) -> Instances:
    """COCO result dicts of one image as Instances (``pred_boxes`` XYXY, ``scores``,
    ``pred_classes`` contiguous, ``pred_masks`` when every result has a segmentation).

    Args:
        results: COCO result dicts of one image.
        image_size: (H, W).
        id_map: dataset category id -> contiguous id (None: ids are already contiguous).
    """
    inst = Instances(image_size)
    boxes = np.asarray([r["bbox"] for r in results], dtype=np.float32).reshape(-1, 4)
    inst.pred_boxes = Boxes(
        BoxMode.convert(torch.from_numpy(boxes), BoxMode.XYWH_ABS, BoxMode.XYXY_ABS)
    )
    inst.scores = torch.tensor([float(r["score"]) for r in results], dtype=torch.float32)
    cats = [int(r["category_id"]) for r in results]
    try:
        classes = [id_map[c] for c in cats] if id_map is not None else cats
    except KeyError as e:
        raise UserError(f"Prediction category_id {e} is not a category of the dataset") from None
    inst.pred_classes = torch.tensor(classes, dtype=torch.int64)
    if results and all("segmentation" in r for r in results):
        masks = mask_util.decode([r["segmentation"] for r in results])  # [H, W, N]
        inst.pred_masks = torch.from_numpy(masks.transpose(2, 0, 1).astype(bool))
    return inst


def sem_seg_from_results(
    results: list[dict], image_size: tuple[int, int], id_map: dict[int, int] | None
) -> np.ndarray:
    """The label map (int64[H, W], 255 where nothing was predicted) of one image's entries."""
    labels = np.full(image_size, 255, dtype=np.int64)
    for r in results:
        mask = mask_util.decode(r["segmentation"]).astype(bool)
        cid = int(r["category_id"])
        labels[mask] = id_map.get(cid, cid) if id_map is not None else cid
    return labels


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Two RGB images next to each other on a white background (heights may differ)."""
    h = max(left.shape[0], right.shape[0])
    out = np.full((h, left.shape[1] + _GAP + right.shape[1], 3), 255, dtype=np.uint8)
    out[: left.shape[0], : left.shape[1]] = left
    out[: right.shape[0], left.shape[1] + _GAP :] = right
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--input", required=True, help="coco_instances_results.json or sem_seg_predictions.json"
    )
    parser.add_argument("--dataset", required=True, help="registered dataset name")
    parser.add_argument("--output", required=True, help="folder for the PNGs")
    parser.add_argument("--conf-threshold", type=float, default=0.5, help="min score (detection)")
    parser.add_argument("--max-images", type=int, default=0, help="stop after this many (0: all)")
    args = parser.parse_args(argv)
    try:
        written = run(args)
    except UserError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    print(f"Wrote {written} images to {args.output}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Draws every image of ``--dataset`` with predictions; returns how many were written."""
    results = read_predictions(args.input)
    if args.dataset not in DatasetCatalog:
        raise UserError(f"Dataset '{args.dataset}' is not registered")
    dicts = DatasetCatalog.get(args.dataset)
    meta = MetadataCatalog.get(args.dataset)
    semantic = bool(results) and "file_name" in results[0]
    key = "file_name" if semantic else "image_id"
    by_image: dict = defaultdict(list)
    for r in results:
        by_image[r[key]].append(r)
    os.makedirs(args.output, exist_ok=True)
    written = 0
    for dic in dicts:
        preds = by_image.get(dic[key])
        if preds is None:
            continue
        image = read_image(dic["file_name"], format="RGB")
        size = image.shape[:2]
        pred_vis = Visualizer(image, meta)
        if semantic:
            id_map = _contiguous_ids(meta, "stuff_dataset_id_to_contiguous_id")
            pred_vis.draw_sem_seg(sem_seg_from_results(preds, size, id_map))
        else:
            id_map = _contiguous_ids(meta, "thing_dataset_id_to_contiguous_id")
            preds = [r for r in preds if r["score"] >= args.conf_threshold]
            pred_vis.draw_instance_predictions(instances_from_results(preds, size, id_map))
        gt_vis = Visualizer(image, meta).draw_dataset_dict(dic)
        panel = side_by_side(pred_vis.get_output().get_image(), gt_vis.get_image())
        stem = os.path.splitext(os.path.basename(dic["file_name"]))[0]
        Image.fromarray(panel).save(os.path.join(args.output, f"{stem}.png"))
        written += 1
        if args.max_images and written >= args.max_images:
            break
    if written == 0:
        raise UserError(
            f"No prediction in '{args.input}' belongs to an image of dataset '{args.dataset}' "
            f"(matched by {key}); was it produced on another dataset?"
        )
    return written


if __name__ == "__main__":
    sys.exit(main())
