#!/usr/bin/env python
"""Run a trained LazyConfig model on images; write one PNG per image and a predictions JSON.

Detectors get boxes, class names, scores and translucent masks drawn; semantic segmentation
models a colored overlay with a legend. Class names and colors come from the metadata of the
config's test dataset. The weights are ``train.init_checkpoint`` (set it with ``--opts``)::

    python tools/demo.py --config-file projects/ViTDet/configs/demo/<config>.py \\
        --input images/ "more/*.jpg" one.png --output demo_out/ --confidence-threshold 0.5 \\
        --opts train.init_checkpoint=output/model_final.pth

Writes ``<output>/<image stem>.png`` per image and ``<output>/predictions.json``: per image its
``file_name``, ``height``, ``width``, ``visualization`` and either ``instances`` (``bbox`` XYXY
absolute pixels, ``score``, ``category_id`` (contiguous), ``category_name``, ``segmentation``
as COCO RLE) or ``sem_seg`` (per predicted class: ``category_id``, ``category_name``,
``pixels``, ``segmentation``). Unreadable images are named on stderr and skipped (exit status 1
if none was readable); an ``--input`` that matches no file at all, a bad config or a checkpoint
that does not fit the config is an error (exit status 2).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from typing import Any

import numpy as np
import pycocotools.mask as mask_util

from det.config import ConfigError
from det.data.detection_utils import read_image
from det.engine import Predictor
from det.utils.errors import UserError
from det.utils.logger import setup_logger
from det.utils.visualizer import Visualizer

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def expand_inputs(patterns: list[str]) -> list[str]:
    """Files named by ``--input``: folders (their image files, sorted), globs and paths.

    A literal path that does not exist is kept, so that it is reported as unreadable.

    Raises:
        UserError: nothing matched at all.
    """
    files: list[str] = []
    for pattern in patterns:
        if os.path.isdir(pattern):
            files += sorted(
                os.path.join(pattern, f)
                for f in os.listdir(pattern)
                if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(pattern, f))
            )
        elif glob.has_magic(pattern):
            files += sorted(f for f in glob.glob(pattern) if os.path.isfile(f))
        elif os.path.exists(pattern):
            files.append(pattern)
        else:
            print(f"warning: --input '{pattern}' does not exist", file=sys.stderr)
    if not files:
        raise UserError(
            f"--input {' '.join(patterns)} matches no image file (give image files, folders "
            f"with {'/'.join(IMAGE_EXTENSIONS)} files, or quoted glob patterns)"
        )
    return files


def _rle(mask: np.ndarray) -> dict:
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _name(names: list[str] | None, cid: int) -> str:
    return names[cid] if names is not None and 0 <= cid < len(names) else str(cid)


def instances_to_json(instances: Any, class_names: list[str] | None) -> list[dict]:
    """Per detection: ``bbox`` (XYXY), ``score``, ``category_id``, ``category_name`` and
    ``segmentation`` (COCO RLE) when masks are predicted."""
    boxes = instances.pred_boxes.tensor.tolist()
    scores = instances.scores.tolist()
    classes = instances.pred_classes.tolist()
    masks = instances.pred_masks.numpy() if instances.has("pred_masks") else None
    out = []
    for i in range(len(instances)):
        det = {
            "bbox": [float(v) for v in boxes[i]],
            "score": float(scores[i]),
            "category_id": int(classes[i]),
            "category_name": _name(class_names, int(classes[i])),
        }
        if masks is not None:
            det["segmentation"] = _rle(masks[i])
        out.append(det)
    return out


def sem_seg_to_json(labels: np.ndarray, class_names: list[str] | None) -> list[dict]:
    """Per predicted class (id order): its id, name, pixel count and mask (COCO RLE).

    Args:
        labels (ndarray[H, W]): predicted class per pixel.
    """
    out = []
    for cid in np.unique(labels).tolist():
        mask = labels == cid
        out.append(
            {
                "category_id": int(cid),
                "category_name": _name(class_names, int(cid)),
                "pixels": int(mask.sum()),
                "segmentation": _rle(mask),
            }
        )
    return out


def _output_path(output_dir: str, file_name: str, used: set[str]) -> str:
    stem = os.path.splitext(os.path.basename(file_name))[0]
    candidate, k = stem, 1
    while candidate in used:  # same stem in two input folders
        candidate, k = f"{stem}_{k}", k + 1
    used.add(candidate)
    return os.path.join(output_dir, candidate + ".png")


def run_demo(args: argparse.Namespace) -> int:
    files = expand_inputs(args.input)
    predictor = Predictor(args.config_file, overrides=args.opts)
    meta = predictor.metadata
    os.makedirs(args.output, exist_ok=True)
    records, skipped, used = [], [], set()
    for file_name in files:
        try:
            # Read once, as the user sees it (RGB, EXIF orientation applied): drawn and predicted.
            image_rgb = read_image(file_name, format="RGB")
        except OSError as e:  # FileNotFoundError included
            print(f"Skipping unreadable image {file_name}: {e}", file=sys.stderr)
            skipped.append({"file_name": file_name, "error": str(e)})
            continue
        output = predictor(image_rgb, input_format="RGB")
        vis = Visualizer(image_rgb, meta)
        record: dict[str, Any] = {
            "file_name": file_name,
            "height": int(image_rgb.shape[0]),
            "width": int(image_rgb.shape[1]),
        }
        if "instances" in output:
            instances = output["instances"].to("cpu")
            instances = instances[instances.scores >= args.confidence_threshold]
            vis.draw_instance_predictions(instances)
            record["instances"] = instances_to_json(instances, meta.get("thing_classes"))
        elif "sem_seg" in output:
            labels = output["sem_seg"].argmax(dim=0).cpu().numpy()
            vis.draw_sem_seg(labels)
            record["sem_seg"] = sem_seg_to_json(labels, meta.get("stuff_classes"))
        else:
            raise UserError(
                f"The model returned {sorted(output)}; tools/demo.py draws 'instances' or "
                "'sem_seg' outputs"
            )
        record["visualization"] = _output_path(args.output, file_name, used)
        vis.get_output().save(record["visualization"])
        records.append(record)
        print(f"{file_name}: {_summary(record)} -> {record['visualization']}")
    result = {
        "config_file": args.config_file,
        "confidence_threshold": args.confidence_threshold,
        "images": records,
        "skipped": skipped,
    }
    json_path = os.path.join(args.output, "predictions.json")
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(result, f)
    print(f"Wrote {len(records)} visualizations and {json_path}")
    if skipped:
        names = ", ".join(s["file_name"] for s in skipped)
        print(f"Skipped {len(skipped)} unreadable image(s): {names}", file=sys.stderr)
    return 0 if records else 1


def _summary(record: dict) -> str:
    if "instances" in record:
        return f"{len(record['instances'])} instances"
    return f"{len(record['sem_seg'])} classes"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-file", required=True, metavar="FILE")
    parser.add_argument(
        "--input", nargs="+", required=True, help="image files, folders or quoted glob patterns"
    )
    parser.add_argument("--output", required=True, help="folder for the PNGs and the JSON")
    parser.add_argument(
        "--confidence-threshold", type=float, default=0.5, help="minimum score of drawn instances"
    )
    parser.add_argument(
        "--opts", nargs=argparse.REMAINDER, default=[], help="config overrides key=value ..."
    )
    args = parser.parse_args(argv)
    setup_logger(name="det")
    try:
        return run_demo(args)
    except (UserError, ConfigError) as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
