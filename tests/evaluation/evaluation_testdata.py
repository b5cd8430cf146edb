"""Synthetic ground truth and perturbed predictions shared by the evaluation tests.

Everything is seeded and tiny (images of 48 x 64 pixels) so the pycocotools / lvis-api reference
runs take well under a second.
"""

from __future__ import annotations

import logging

import numpy as np
import pycocotools.mask as mask_util
import torch

from det.structures import Boxes, Instances

H, W = 48, 64


class LogCapture(logging.Handler):
    """Collects the formatted messages of the records it receives (attach it to a logger)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _ellipse_polygon(x0, y0, x1, y1, n=12):
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pts = np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)
    return [round(float(v), 2) for v in pts.reshape(-1)]


def _random_box(rng, min_size=4):
    w = rng.uniform(min_size, W * 0.7)
    h = rng.uniform(min_size, H * 0.7)
    x0 = rng.uniform(0, W - w)
    y0 = rng.uniform(0, H - h)
    return [x0, y0, x0 + w, y0 + h]


def make_gt(rng, num_images, cat_ids, *, lvis=False, keypoints=0):
    """A COCO (or LVIS) format dict with polygon masks; COCO gets crowd RLE regions too."""
    images, anns = [], []
    for img_idx in range(num_images):
        img_id = 100 + 3 * img_idx  # non-contiguous ids on purpose
        image = {"id": img_id, "width": W, "height": H, "file_name": f"{img_id:012d}.jpg"}
        if lvis:
            image["neg_category_ids"] = [cat_ids[img_idx % len(cat_ids)]]
            image["not_exhaustive_category_ids"] = []
            image["coco_url"] = f"http://images.cocodataset.org/val2017/{img_id:012d}.jpg"
        images.append(image)
        for _ in range(rng.integers(0, 6)):  # some images have no objects
            x0, y0, x1, y1 = _random_box(rng)
            cat = int(rng.choice(cat_ids))
            if lvis and cat == image["neg_category_ids"][0]:
                continue
            poly = _ellipse_polygon(x0, y0, x1, y1)
            rle = mask_util.frPyObjects([poly], H, W)
            ann = {
                "id": len(anns) + 1,
                "image_id": img_id,
                "category_id": cat,
                "segmentation": [poly],
                "area": float(mask_util.area(mask_util.merge(rle))),
                "bbox": [x0, y0, x1 - x0, y1 - y0],
            }
            if not lvis:
                ann["iscrowd"] = 0
            if keypoints:
                kps = []
                for _ in range(keypoints):
                    kps += [float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1)), 2]
                ann["keypoints"] = kps
                ann["num_keypoints"] = keypoints
            anns.append(ann)
        if not lvis and not keypoints and img_idx % 7 == 3:
            crowd = np.zeros((H, W), dtype=np.uint8, order="F")
            crowd[2:20, 30:60] = 1
            rle = mask_util.encode(crowd)
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": img_id,
                    "category_id": int(cat_ids[0]),
                    # uncompressed RLE, as COCO stores crowd regions
                    "segmentation": {"size": [H, W], "counts": _uncompressed_counts(crowd)},
                    "area": float(mask_util.area(rle)),
                    "bbox": [30.0, 2.0, 30.0, 18.0],
                    "iscrowd": 1,
                }
            )
    categories = []
    for i, cid in enumerate(cat_ids):
        cat = {"id": int(cid), "name": f"class_{cid}"}
        if lvis:
            cat["frequency"] = "rcf"[i % 3]
            cat["synonyms"] = [cat["name"]]
            cat["image_count"] = 1
            cat["instance_count"] = 1
        if keypoints:
            cat["keypoints"] = [f"k{j}" for j in range(keypoints)]
            cat["skeleton"] = []
        categories.append(cat)
    return {"images": images, "annotations": anns, "categories": categories}


def _uncompressed_counts(mask):
    flat = mask.reshape(-1, order="F")
    counts, current, run = [], 0, 0
    for v in flat:
        if v != current:
            counts.append(run)
            current, run = v, 0
        run += 1
    counts.append(run)
    return counts


def make_predictions(rng, gt, cat_ids, *, keypoints=0, crowded_image_dets=0):
    """Per image: jittered copies of most GT objects, wrong-class copies and random boxes.

    Returns a list of dicts with ``image_id``, ``boxes`` (float32[N, 4] XYXY), ``scores``,
    ``classes`` (contiguous, int64), ``masks`` (bool[N, H, W]) and optionally ``keypoints``.
    """
    cat_to_contiguous = {c: i for i, c in enumerate(cat_ids)}
    by_image = {img["id"]: [] for img in gt["images"]}
    for ann in gt["annotations"]:
        if not ann.get("iscrowd", 0):
            by_image[ann["image_id"]].append(ann)
    preds = []
    for img_idx, (img_id, anns) in enumerate(by_image.items()):
        boxes, classes, sources = [], [], []
        for ann in anns:
            if rng.random() < 0.85:
                x, y, w, h = ann["bbox"]
                jitter = rng.normal(0, 0.12, size=4) * [w, h, w, h]
                box = np.array([x, y, x + w, y + h]) + jitter
                boxes.append(box)
                contiguous = cat_to_contiguous[ann["category_id"]]
                if rng.random() < 0.15:
                    contiguous = int(rng.integers(len(cat_ids)))
                classes.append(contiguous)
                sources.append(ann)
        num_random = int(rng.integers(1, 5))
        if crowded_image_dets and img_idx % 5 == 0:
            num_random += crowded_image_dets
        for _ in range(num_random):
            boxes.append(np.array(_random_box(rng, min_size=2)))
            classes.append(0 if num_random > 5 else int(rng.integers(len(cat_ids))))
        boxes = np.array(boxes, dtype=np.float32).reshape(-1, 4)
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, W)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, H)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 0.5)
        n = len(boxes)
        masks = np.zeros((n, H, W), dtype=bool)
        yy, xx = np.mgrid[0:H, 0:W] + 0.5
        for i, (x0, y0, x1, y1) in enumerate(boxes):
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            rx, ry = max((x1 - x0) / 2, 0.5), max((y1 - y0) / 2, 0.5)
            masks[i] = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
        # Quantized scores create ties, which exercise the order-dependence of matching.
        scores = np.round(rng.uniform(0.05, 1.0, size=n), 2).astype(np.float32)
        pred = {
            "image_id": img_id,
            "boxes": boxes,
            "scores": scores,
            "classes": np.array(classes, dtype=np.int64),
            "masks": masks,
        }
        if keypoints:
            kp = np.zeros((n, keypoints, 3), dtype=np.float32)
            for i, (x0, y0, x1, y1) in enumerate(boxes):
                if i < len(sources):
                    # detectron2 convention: annotation pixel indices + 0.5
                    kp[i] = np.array(sources[i]["keypoints"]).reshape(-1, 3)
                    kp[i, :, :2] += 0.5 + rng.normal(0, 1.0, size=(keypoints, 2))
                else:
                    kp[i, :, 0] = rng.uniform(x0, x1, size=keypoints)
                    kp[i, :, 1] = rng.uniform(y0, y1, size=keypoints)
                kp[i, :, 2] = rng.uniform(0, 1, size=keypoints)
            pred["keypoints"] = kp
        preds.append(pred)
    return preds


def to_instances(pred, *, with_masks=True):
    inst = Instances((H, W))
    inst.pred_boxes = Boxes(torch.from_numpy(pred["boxes"]))
    inst.scores = torch.from_numpy(pred["scores"])
    inst.pred_classes = torch.from_numpy(pred["classes"])
    if with_masks:
        inst.pred_masks = torch.from_numpy(pred["masks"])
    if "keypoints" in pred:
        inst.pred_keypoints = torch.from_numpy(pred["keypoints"])
    return inst


def reference_results(preds, cat_ids, task):
    """COCO result dicts written independently of det (NumPy XYWH, per-mask pycocotools RLE)."""
    out = []
    for p in preds:
        for i in range(len(p["scores"])):
            x0, y0, x1, y1 = (float(v) for v in p["boxes"][i])
            b = p["boxes"][i]
            res = {
                "image_id": p["image_id"],
                "category_id": int(cat_ids[p["classes"][i]]),
                "score": float(p["scores"][i]),
            }
            if task in ("bbox", "keypoints"):
                # float32 subtraction, as the box arrives as float32
                res["bbox"] = [x0, y0, float(b[2] - b[0]), float(b[3] - b[1])]
            if task == "segm":
                rle = mask_util.encode(np.asfortranarray(p["masks"][i].astype(np.uint8)))
                rle["counts"] = rle["counts"].decode("ascii")
                res["segmentation"] = rle
            if task == "keypoints":
                kp = p["keypoints"][i].copy()
                kp[:, :2] -= 0.5
                res["keypoints"] = [float(v) for v in kp.reshape(-1)]
            out.append(res)
    return out


def assert_same_metric(actual, expected_fraction):
    """det reports percent and NaN where pycocotools / lvis-api report -1."""
    if expected_fraction < 0:
        assert np.isnan(actual), actual
    else:
        assert actual == float(expected_fraction * 100), (actual, expected_fraction * 100)


def perfect_instances(record):
    """Instances equal to a dataset dict's non-crowd annotations (boxes, classes, masks)."""
    from det.structures import BoxMode

    h, w = record["height"], record["width"]
    anns = [a for a in record.get("annotations", []) if not a.get("iscrowd", 0)]
    boxes = [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in anns]
    masks = []
    for a in anns:
        segm = a["segmentation"]
        rle = mask_util.merge(mask_util.frPyObjects(segm, h, w)) if isinstance(segm, list) else segm
        masks.append(mask_util.decode(rle).astype(bool))
    inst = Instances((h, w))
    inst.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    inst.scores = torch.ones(len(anns))
    inst.pred_classes = torch.tensor([a["category_id"] for a in anns], dtype=torch.int64)
    inst.pred_masks = torch.from_numpy(np.array(masks, dtype=bool).reshape(-1, h, w))
    return inst
