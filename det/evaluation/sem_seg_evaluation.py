"""Semantic segmentation metrics from one dataset-level confusion matrix.

Glossary: K classes, H x W the original image size.

Two families of numbers come from the same matrix:

* detectron2's ``mIoU``, ``fwIoU``, ``mACC``, ``pACC`` and per-class ``IoU-<class>`` /
  ``ACC-<class>``: a class absent from the ground truth is left out of every mean (its IoU and
  accuracy are NaN), even when it was predicted.
* mmsegmentation's ``aAcc``, ``mIoU``, ``mAcc`` (stored as ``mmseg-aAcc`` etc., rounded to 2
  decimals as mmseg reports them): a class absent from the ground truth but predicted counts with
  IoU 0; only classes absent from both are left out (nanmean). The two mIoUs agree whenever every
  class occurs in the ground truth (full ADE20K / COCO-Stuff val). mmseg accumulates its areas in
  float32; here the counts are exact integers, which can move the 5th significant digit.

Ground truth: pixel value = contiguous class id, ``ignore_label`` (255) = ignored. Datasets whose
PNGs store ``class + 1`` with 0 = "other" (ADE20K's raw annotations) mark their records (and
metadata) with ``reduce_zero_label=True``; the GT is then read through the data package's
``read_sem_seg_gt``, which maps 0 -> 255, k -> k - 1 as mmseg's ``intersect_and_union`` and the
training mapper do.
"""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict

import numpy as np
import pycocotools.mask as mask_util
import torch

from det.data.catalog import DatasetCatalog, MetadataCatalog
from det.data.datasets.sem_seg import read_sem_seg_gt
from det.evaluation.evaluator import DatasetEvaluator, gather_to_main
from det.evaluation.testing import MMSEG_SUMMARY_KEYS, create_table
from det.utils import comm

__all__ = ["SemSegEvaluator"]

logger = logging.getLogger(__name__)


def _check_labels(gt: np.ndarray, file_name: str, num_classes: int, ignore_label: int) -> None:
    invalid = (gt != ignore_label) & (gt >= num_classes)
    if invalid.any():
        raise ValueError(
            f"Semantic GT {file_name} has label {int(gt[invalid][0])} (after the dataset's label "
            f"convention); expected 0..{num_classes - 1} or ignore_label {ignore_label}"
        )


class SemSegEvaluator(DatasetEvaluator):
    """Confusion-matrix semantic segmentation evaluator (detectron2's ``SemSegEvaluator``).

    For every image, ``argmax`` over the ``sem_seg`` output (Tensor[K, H, W] scores at the original
    resolution) is compared with the GT PNG named by the input's ``sem_seg_file_name`` or, when the
    mapper dropped it, by the dataset dict with the same ``file_name``.

    Results (percent): ``{"sem_seg": {"mIoU", "fwIoU", "IoU-<class>"..., "mACC", "pACC",
    "ACC-<class>"..., "mmseg-aAcc", "mmseg-mIoU", "mmseg-mAcc"}}``. See the module docstring for the
    two conventions.

    Args:
        dataset_name: a registered dataset; its metadata gives ``stuff_classes``,
            ``ignore_label`` (default 255), ``reduce_zero_label`` (default False; a record's own
            ``reduce_zero_label`` wins) and optionally ``stuff_dataset_id_to_contiguous_id``
            (for the JSON output).
        distributed: sum the confusion matrices of all ranks on the main rank. If False, each rank
            evaluates only what it processed.
        output_dir: if set, ``sem_seg_predictions.json`` (per image and class, an RLE of the
            predicted mask) is written there.
        num_classes: K, overriding ``len(metadata.stuff_classes)``.
        ignore_label: overrides ``metadata.ignore_label``.
    """

    def __init__(
        self,
        dataset_name: str,
        distributed: bool = True,
        output_dir: str | None = None,
        *,
        num_classes: int | None = None,
        ignore_label: int | None = None,
    ) -> None:
        meta = MetadataCatalog.get(dataset_name)
        self._dataset_name = dataset_name
        self._distributed = distributed
        self._output_dir = output_dir
        self._class_names = list(meta.get("stuff_classes", []))
        self._num_classes = num_classes if num_classes is not None else len(self._class_names)
        if self._num_classes <= 0:
            raise ValueError(
                f"SemSegEvaluator: dataset '{dataset_name}' has no stuff_classes in its metadata; "
                "pass num_classes="
            )
        if len(self._class_names) != self._num_classes:
            self._class_names = [str(i) for i in range(self._num_classes)]
        self._ignore_label = (
            ignore_label if ignore_label is not None else meta.get("ignore_label", 255)
        )
        self._reduce_zero_label = bool(meta.get("reduce_zero_label", False))
        id_map = meta.get("stuff_dataset_id_to_contiguous_id")
        self._contiguous_to_dataset_id = {v: k for k, v in id_map.items()} if id_map else None
        self._gt_records: dict[str, dict] | None = None
        self.reset()

    def reset(self) -> None:
        k1 = self._num_classes + 1
        # Rows: prediction, columns: ground truth; the extra last column holds ignored GT pixels.
        self._conf_matrix = np.zeros((k1, k1), dtype=np.int64)
        self._predictions: list[dict] = []

    def _load_gt(self, inp: dict) -> tuple[np.ndarray, str]:
        """The GT label map of one input (int64[H, W]; ignored pixels = K) and its file name."""
        record = inp
        if "sem_seg_file_name" not in inp:
            # Test mappers drop the label path; find it through the dataset dicts.
            if self._gt_records is None:
                dicts = DatasetCatalog.get(self._dataset_name)
                self._gt_records = {d["file_name"]: d for d in dicts}
            record = self._gt_records.get(inp["file_name"])
            if record is None:
                raise KeyError(
                    f"SemSegEvaluator: image {inp['file_name']} is not in dataset "
                    f"'{self._dataset_name}' and the input has no sem_seg_file_name"
                )
        file_name = record["sem_seg_file_name"]
        reduce = record.get("reduce_zero_label", self._reduce_zero_label)
        gt = read_sem_seg_gt(file_name, reduce_zero_label=reduce).astype(np.int64)
        _check_labels(gt, file_name, self._num_classes, self._ignore_label)
        return np.where(gt == self._ignore_label, self._num_classes, gt), file_name

    def process(self, inputs: list[dict], outputs: list[dict]) -> None:
        """Accumulate the confusion matrix.

        Args:
            inputs: dicts with ``file_name`` (and optionally ``sem_seg_file_name``).
            outputs: dicts with ``sem_seg`` (Tensor[K, H, W] scores at the original size).
        """
        k = self._num_classes
        for inp, out in zip(inputs, outputs):
            scores = out["sem_seg"]
            if scores.dim() != 3 or scores.shape[0] != k:
                raise ValueError(
                    f"SemSegEvaluator expects sem_seg of shape [{k}, H, W], "
                    f"got {tuple(scores.shape)}"
                )
            pred = scores.argmax(dim=0).to("cpu", torch.int64).numpy()
            gt, gt_file = self._load_gt(inp)
            if gt.shape != pred.shape:
                raise ValueError(
                    f"SemSegEvaluator: prediction for {inp['file_name']} is {pred.shape} but its "
                    f"GT {gt_file} is {gt.shape}; outputs must be at the original resolution"
                )
            self._conf_matrix += np.bincount(
                (k + 1) * pred.reshape(-1) + gt.reshape(-1), minlength=(k + 1) ** 2
            ).reshape(k + 1, k + 1)
            if self._output_dir:
                self._predictions.extend(self._encode_json(pred, inp["file_name"]))

    def _encode_json(self, pred: np.ndarray, file_name: str) -> list[dict]:
        entries = []
        for label in np.unique(pred).tolist():
            category_id = label
            if self._contiguous_to_dataset_id is not None:
                category_id = self._contiguous_to_dataset_id[label]
            rle = mask_util.encode(np.asfortranarray((pred == label).astype(np.uint8)))
            rle["counts"] = rle["counts"].decode("utf-8")
            entries.append(
                {"file_name": file_name, "category_id": category_id, "segmentation": rle}
            )
        return entries

    def evaluate(self) -> OrderedDict | dict:
        """Compute the metrics over everything processed since :meth:`reset`.

        Returns:
            ``{"sem_seg": {...}}`` on the main rank (every rank when not distributed), else ``{}``.
        """
        conf_matrix = self._conf_matrix
        predictions = self._predictions
        if self._distributed:
            comm.synchronize()
            matrices = comm.gather(self._conf_matrix, dst=0)
            predictions = gather_to_main(self._predictions) if self._output_dir else []
            if not comm.is_main_process():
                return {}
            conf_matrix = np.sum(matrices, axis=0)

        if self._output_dir:
            os.makedirs(self._output_dir, exist_ok=True)
            path = os.path.join(self._output_dir, "sem_seg_predictions.json")
            with open(f"{path}.tmp{os.getpid()}", "w") as f:
                json.dump(predictions, f)
            os.replace(f"{path}.tmp{os.getpid()}", path)

        res = _detectron2_metrics(conf_matrix, self._class_names)
        mmseg = _mmseg_metrics(conf_matrix)
        for name, key in MMSEG_SUMMARY_KEYS.items():
            res[key] = mmseg[name]
        self._log_per_class(mmseg)
        return OrderedDict(sem_seg=res)

    def _log_per_class(self, mmseg: dict) -> None:
        rows = [
            [name, _pct2(iou), _pct2(acc)]
            for name, iou, acc in zip(self._class_names, mmseg["IoU"], mmseg["Acc"])
        ]
        logger.info(
            "per class results (mmsegmentation):\n"
            + create_table(["Class", "IoU", "Acc"], rows, float_fmt=".2f")
        )


def _pct2(x: float) -> float:
    return float(np.round(x * 100, 2))


def _detectron2_metrics(conf_matrix: np.ndarray, class_names: list[str]) -> dict:
    """detectron2's numbers: classes with no GT pixel are NaN and excluded from the means."""
    k = len(class_names)
    block = conf_matrix[:k, :k].astype(np.float64)  # drops pixels whose GT is ignored
    tp = np.diagonal(block).copy()
    pos_gt = block.sum(axis=0)
    pos_pred = block.sum(axis=1)
    union = pos_gt + pos_pred - tp
    acc_valid = pos_gt > 0
    iou_valid = acc_valid & (union > 0)
    acc = np.full(k, np.nan)
    iou = np.full(k, np.nan)
    acc[acc_valid] = tp[acc_valid] / pos_gt[acc_valid]
    iou[iou_valid] = tp[iou_valid] / union[iou_valid]
    total_gt = pos_gt.sum()
    class_weights = pos_gt / total_gt if total_gt > 0 else np.zeros(k)

    res: dict = {}
    res["mIoU"] = 100 * float(np.mean(iou[iou_valid])) if iou_valid.any() else float("nan")
    res["fwIoU"] = 100 * float(np.sum(iou[iou_valid] * class_weights[iou_valid]))
    for name, value in zip(class_names, iou):
        res[f"IoU-{name}"] = 100 * float(value)
    res["mACC"] = 100 * float(np.mean(acc[acc_valid])) if acc_valid.any() else float("nan")
    res["pACC"] = 100 * float(tp.sum() / total_gt) if total_gt > 0 else float("nan")
    for name, value in zip(class_names, acc):
        res[f"ACC-{name}"] = 100 * float(value)
    return res


def _mmseg_metrics(conf_matrix: np.ndarray) -> dict:
    """mmsegmentation's ``total_area_to_metrics`` + summary (percent, 2 decimals)."""
    k = conf_matrix.shape[0] - 1
    block = conf_matrix[:k, :k].astype(np.float64)
    intersect = np.diagonal(block)
    area_label = block.sum(axis=0)
    area_pred = block.sum(axis=1)
    area_union = area_pred + area_label - intersect
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = intersect / area_union  # NaN only when the class is absent from GT and prediction
        acc = intersect / area_label  # NaN when absent from GT
        a_acc = intersect.sum() / area_label.sum()

    def summary(values: np.ndarray) -> float:
        return _pct2(np.nanmean(values)) if not np.all(np.isnan(values)) else float("nan")

    return {
        "aAcc": _pct2(a_acc) if area_label.sum() > 0 else float("nan"),
        "mIoU": summary(iou),
        "mAcc": summary(acc),
        "IoU": iou,
        "Acc": acc,
    }
