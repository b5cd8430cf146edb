"""Predicted ``Instances`` <-> COCO result format (boxes, RLE masks, keypoints).

Glossary: N detections in one image, K keypoints per instance, C categories.

During inference every image's predictions are kept as one compact record (NumPy arrays and RLE
strings: a few dozen bytes per detection instead of a Python dict of lists), which is what the
COCO and LVIS evaluators accumulate and gather across ranks. COCO result dicts (one per
detection, the format of ``coco_instances_results.json``) are only built from the records when an
evaluation or the JSON file needs them.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pycocotools.mask as mask_util
import torch

from det.utils.errors import UserError

__all__ = [
    "PredictedClassError",
    "compact_instances",
    "instances_to_coco_json",
    "records_to_results",
    "contiguous_to_dataset_ids",
    "write_results_json",
]


class PredictedClassError(UserError, ValueError, AssertionError):
    """A prediction's class index has no dataset category id.

    Also an ``AssertionError``: detectron2's evaluator asserts here, and code written against it
    (its own tests among them) catches that type.
    """


def compact_instances(instances: Any, img_id: int) -> dict:
    """Compact, picklable per-image record of predicted instances (contiguous class ids).

    Args:
        instances (Instances): with ``pred_boxes`` (Boxes, XYXY absolute pixels), ``scores``
            (Tensor[N]), ``pred_classes`` (Tensor[N], contiguous ids 0..C-1) and optionally
            ``pred_masks`` (Tensor[N, H, W], bool / 0-1 at the original image size; float masks
            are thresholded at 0.5) and ``pred_keypoints`` (Tensor[N, K, 3], x, y, score in
            detectron2's pixel-index coordinates).
        img_id: the dataset's ``image_id``.

    Returns:
        ``{"image_id", "boxes" (float32[N, 4] XYWH), "scores" (float32[N]), "classes" (int64[N]),
        "rles" (list of N COCO RLE dicts with str counts, or None), "keypoints" (float32[N, K, 3]
        in COCO coordinates, or None), "mask_scores" (float32[N] or None)}``. ``mask_scores``
        comes from an ``Instances.mask_scores`` field (maskness with separate mask scores) and
        replaces ``scores`` in the segmentation results only.
    """
    boxes = instances.pred_boxes.tensor.detach().to("cpu", torch.float32)
    # float32 arithmetic on purpose: detectron2's BoxMode conversion does the same, so the widths
    # written to JSON are bit-identical to its output.
    xywh = torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], dim=1)
    record = {
        "image_id": img_id,
        "boxes": xywh.numpy(),
        "scores": instances.scores.detach().to("cpu", torch.float32).numpy(),
        "classes": instances.pred_classes.detach().to("cpu", torch.int64).numpy(),
        "rles": None,
        "keypoints": None,
        "mask_scores": None,
    }
    if instances.has("mask_scores"):
        record["mask_scores"] = instances.mask_scores.detach().to("cpu", torch.float32).numpy()
    if instances.has("pred_masks"):
        record["rles"] = _encode_masks(instances.pred_masks)
    if instances.has("pred_keypoints"):
        keypoints = instances.pred_keypoints.detach().to("cpu", torch.float32).clone()
        # The data loader adds 0.5 to COCO's integer-pixel keypoint annotations (detectron2's
        # convention); undo it so the results are in COCO's convention again.
        keypoints[:, :, :2] -= 0.5
        record["keypoints"] = keypoints.numpy()
    return record


def _encode_masks(masks: Any) -> list[dict]:
    if hasattr(masks, "tensor"):  # BitMasks
        masks = masks.tensor
    masks = masks.detach()
    if masks.dtype.is_floating_point:
        masks = masks >= 0.5
    elif masks.dtype != torch.bool:
        masks = masks != 0
    if masks.device.type == "cpu":
        # pycocotools wants column-major masks. One H x W transpose per mask stays in cache; a
        # single N x H x W transpose was measured 1.2-2x slower on CPU.
        planes = masks.numpy().view(np.uint8)
        rles = [mask_util.encode(np.asfortranarray(plane[:, :, None]))[0] for plane in planes]
    else:
        # On the GPU, transpose there: a C-contiguous N x W x H array is an H x W x N Fortran
        # array, so the CPU only copies and run-length encodes.
        nwh = masks.to(torch.uint8).transpose(1, 2).contiguous().cpu().numpy()
        rles = mask_util.encode(nwh.transpose(2, 1, 0)) if len(nwh) else []
    for rle in rles:
        rle["counts"] = rle["counts"].decode("utf-8")
    return rles


def _record_to_results(
    record: dict, category_ids: np.ndarray | None = None, fields: Sequence[str] | None = None
) -> list[dict]:
    """COCO result dicts for one compact record, keys in detectron2's order.

    ``category_ids`` maps contiguous ids to dataset ids (identity when None); ``fields`` limits the
    optional keys ("bbox", "segmentation", "keypoints") to those given (all present when None).
    """
    classes = record["classes"]
    if category_ids is not None:
        bad = classes[(classes < 0) | (classes >= len(category_ids))]
        if len(bad):
            raise PredictedClassError(
                f"Image {record['image_id']}: predicted class {int(bad[0])} is outside the "
                f"dataset's contiguous category ids 0..{len(category_ids) - 1}; the model's "
                "num_classes must match the evaluated dataset's categories"
            )
        classes = category_ids[classes]
    want = set(fields) if fields is not None else {"bbox", "segmentation", "keypoints"}
    boxes = record["boxes"].tolist() if "bbox" in want else None
    rles = record["rles"] if "segmentation" in want else None
    keypoints = record["keypoints"] if "keypoints" in want else None
    mask_scores = record.get("mask_scores")
    scores = record["scores"]
    if mask_scores is not None and want == {"segmentation"}:
        # Segmentation-only results are ranked by their own (maskness) scores; results that
        # also carry the box keep the box score and add the mask score next to it.
        scores, mask_scores = mask_scores, None
    mask_scores = mask_scores.tolist() if mask_scores is not None and rles is not None else None
    results = []
    for i, (cat, score) in enumerate(zip(classes.tolist(), scores.tolist())):
        result = {"image_id": record["image_id"], "category_id": cat}
        if boxes is not None:
            result["bbox"] = boxes[i]
        result["score"] = score
        if rles is not None:
            result["segmentation"] = rles[i]
        if mask_scores is not None:
            result["mask_score"] = mask_scores[i]
        if keypoints is not None:
            result["keypoints"] = keypoints[i].reshape(-1).tolist()
        results.append(result)
    return results


def instances_to_coco_json(instances: Any, img_id: int) -> list[dict]:
    """Convert one image's predicted ``Instances`` to COCO result dicts (detectron2's function).

    Args:
        instances (Instances): see :func:`compact_instances`.
        img_id: the image id.

    Returns:
        One dict per instance: ``image_id``, ``category_id`` (contiguous id, not yet mapped to the
        dataset's ids), ``bbox`` (XYWH), ``score``, plus ``segmentation`` (RLE) and ``keypoints``
        (flat [x, y, score] * K) when predicted.
    """
    return _record_to_results(compact_instances(instances, img_id))


def contiguous_to_dataset_ids(metadata: Any) -> np.ndarray | None:
    """Lookup table ``lut[contiguous_id] = dataset category id`` from the metadata's
    ``thing_dataset_id_to_contiguous_id``; None when the metadata has no such mapping."""
    mapping = getattr(metadata, "thing_dataset_id_to_contiguous_id", None)
    if mapping is None:
        return None
    contiguous = sorted(mapping.values())
    if contiguous != list(range(len(contiguous))):
        raise ValueError(
            f"Metadata '{metadata.name}': thing_dataset_id_to_contiguous_id must map onto "
            f"0..{len(contiguous) - 1} exactly, got values {contiguous[:10]}..."
        )
    lut = np.empty(len(contiguous), dtype=np.int64)
    for dataset_id, contiguous_id in mapping.items():
        lut[contiguous_id] = dataset_id
    return lut


def write_results_json(records: list[dict], category_ids: np.ndarray | None, path: str) -> None:
    """Write the COCO result dicts of ``records`` to ``path`` as one JSON list.

    Streamed record by record (no full list of dicts in memory) and written atomically: readers
    never see a half-written file.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp_path = f"{path}.tmp{os.getpid()}"
    with open(tmp_path, "w") as f:
        f.write("[")
        first = True
        for record in records:
            for result in _record_to_results(record, category_ids):
                f.write(("" if first else ", ") + json.dumps(result))
                first = False
        f.write("]")
    os.replace(tmp_path, path)


_TASK_RECORD_KEY = {"bbox": "boxes", "segm": "rles", "keypoints": "keypoints"}
# loadRes takes the area of a result from its bbox whenever one is present. Mask results therefore
# carry no bbox (their area must be the mask area, or the small/medium/large split changes;
# detectron2 drops it too), while keypoint results keep theirs, as in detectron2.
_TASK_FIELDS = {"bbox": ["bbox"], "segm": ["segmentation"], "keypoints": ["bbox", "keypoints"]}


def records_to_results(
    records: list[dict], category_ids: np.ndarray | None, task: str
) -> list[dict]:
    """The COCO result dicts ``task``'s evaluation needs, from compact per-image records.

    Args:
        records: outputs of :func:`compact_instances`.
        category_ids: ``lut[contiguous_id] = dataset id`` (contiguous ids kept when None).
        task: "bbox", "segm" or "keypoints".
    """
    key = _TASK_RECORD_KEY[task]
    if any(r[key] is None for r in records if len(r["scores"])):
        raise ValueError(f"Task '{task}' requested but some images' predictions have no {key}")
    return list(
        itertools.chain.from_iterable(
            _record_to_results(r, category_ids, _TASK_FIELDS[task]) for r in records
        )
    )
