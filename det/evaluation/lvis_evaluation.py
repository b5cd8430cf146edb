"""LVIS box / mask AP with the official lvis-api (``LVISResults`` + ``LVISEval``).

lvis 0.5.3 (the last release) calls ``np.float`` in ``LVISEval.accumulate``; NumPy 2 removed that
alias. :func:`_numpy_float_alias` restores it for the duration of an evaluation only, instead of
patching site-packages or NumPy for the whole process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from det.evaluation.coco_results import contiguous_to_dataset_ids, records_to_results
from det.evaluation.instances_evaluator import (
    InstancesEvaluator,
    nan_metrics,
    paused_gc,
    stats_to_percent,
)

__all__ = ["LVISEvaluator"]

logger = logging.getLogger(__name__)

_METRICS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf"]


@contextlib.contextmanager
def _numpy_float_alias() -> Iterator[None]:
    """Provide ``np.float`` (= builtin float, its NumPy < 1.24 meaning) inside the block."""
    # hasattr is False on NumPy >= 1.24, whose module __getattr__ raises for the removed alias.
    added = not hasattr(np, "float")
    if added:
        np.float = float  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if added:
            del np.float  # type: ignore[attr-defined]


def _import_lvis() -> Any:
    try:
        import lvis
    except ImportError as e:
        raise ImportError("LVISEvaluator needs the LVIS API: pip install lvis") from e
    return lvis


class LVISEvaluator(InstancesEvaluator):
    """LVIS AP (detectron2's ``LVISEvaluator``) for box and mask predictions.

    Ground truth is ``LVIS(metadata.json_file)``. Predictions are capped to the top
    ``max_dets_per_image`` per image by score, across categories (``LVISResults(max_dets=...)``),
    then evaluated with ``LVISEval``. Predicted contiguous class ids map to LVIS ids through the
    metadata's ``thing_dataset_id_to_contiguous_id``, or as ``id + 1`` when it has none.

    Results are percentages: ``{"bbox": {"AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc",
    "APf"}, "segm": {...}}``; a metric lvis-api cannot compute (it reports -1, e.g. APr on a
    subset without rare categories) becomes NaN.

    Args:
        dataset_name: a registered LVIS-format dataset (metadata must have ``json_file``).
        tasks: subset of ``("bbox", "segm")``; inferred from the predictions if None.
        distributed: gather predictions from all ranks and evaluate on the main rank. If False,
            each rank evaluates only what it processed.
        output_dir: if set, ``lvis_instances_results.json`` is written there.
        max_dets_per_image: detections kept per image (LVIS' official 300; EVA-02's system-level
            results use 1000, set through ``dataloader.evaluator.max_dets_per_image=1000``).
    """

    def __init__(
        self,
        dataset_name: str,
        tasks: Sequence[str] | None = None,
        distributed: bool = True,
        output_dir: str | None = None,
        *,
        max_dets_per_image: int = 300,
    ) -> None:
        if tasks is not None and not set(tasks) <= {"bbox", "segm"}:
            raise ValueError(
                f"LVISEvaluator: tasks must be a subset of ('bbox', 'segm'), got {tasks}"
            )
        super().__init__(dataset_name, tasks, distributed, output_dir)
        self._max_dets_per_image = int(max_dets_per_image)
        json_file = getattr(self._metadata, "json_file", None)
        if json_file is None or not os.path.isfile(json_file):
            raise FileNotFoundError(
                f"LVISEvaluator: dataset '{dataset_name}' needs an existing LVIS json_file in its "
                f"metadata, got {json_file!r}"
            )
        self._json_file = json_file
        self._lvis_api = None

    def _load_gt(self) -> Any:
        if self._lvis_api is None:
            self._lvis_api = _import_lvis().LVIS(self._json_file)
        return self._lvis_api

    def evaluate(self) -> OrderedDict | dict:
        """Evaluate everything processed since :meth:`reset`.

        Returns:
            ``{task: {metric: value}}`` on the main rank (or every rank when not distributed);
            ``{}`` elsewhere and when there were no predictions.
        """
        records = self._gather_records()
        if records is None:
            return {}

        lvis_gt = self._load_gt()
        category_ids = contiguous_to_dataset_ids(self._metadata)
        if category_ids is None:
            category_ids = np.arange(1, len(lvis_gt.get_cat_ids()) + 1)
        self._save_records(records, category_ids, "lvis_instances_results.json")

        tasks = self._tasks or (("bbox", "segm") if _has_masks(records) else ("bbox",))
        results: OrderedDict = OrderedDict()
        for task in sorted(tasks):
            with paused_gc():
                lvis_results = records_to_results(records, category_ids, task)
            results[task] = _evaluate_on_lvis(lvis_gt, lvis_results, task, self._max_dets_per_image)
        return results


def _has_masks(records: list[dict]) -> bool:
    return any(r["rles"] is not None for r in records)


def _evaluate_on_lvis(lvis_gt: Any, lvis_results: list[dict], iou_type: str, max_dets: int) -> dict:
    """Run LVISEval on COCO-format result dicts and return the metrics in percent."""
    if len(lvis_results) == 0:
        return nan_metrics(_METRICS, iou_type)
    lvis = _import_lvis()
    logger.info(f"Evaluating {iou_type} with max detections per image = {max_dets}")
    with _numpy_float_alias(), paused_gc(), warnings.catch_warnings():
        # lvis-api still calls the deprecated Logger.warn
        warnings.filterwarnings("ignore", "The 'warn' method is deprecated", DeprecationWarning)
        lvis_dt = lvis.LVISResults(lvis_gt, lvis_results, max_dets=max_dets)
        lvis_eval = lvis.LVISEval(lvis_gt, lvis_dt, iou_type)
        lvis_eval.run()
    lvis_eval.print_results()
    stats = lvis_eval.get_results()
    return stats_to_percent([stats[m] for m in _METRICS], _METRICS, iou_type)
