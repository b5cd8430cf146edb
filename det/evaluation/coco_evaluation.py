"""COCO-style box / mask / keypoint AP with pycocotools' ``COCOeval``.

Predictions are kept compact while inference runs (one record per image holding NumPy arrays and
RLE strings, not one Python dict per detection; see ``coco_results``), gathered to the main rank
a few hundred images at a time (:func:`det.evaluation.evaluator.gather_to_main`), and only turned
into COCO result dicts, one task at a time, right before ``COCOeval`` needs them. The numbers are
exactly those of running pycocotools on the ``coco_instances_results.json`` this evaluator writes.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from det.evaluation.coco_results import (
    contiguous_to_dataset_ids,
    instances_to_coco_json,
    records_to_results,
)
from det.evaluation.instances_evaluator import (
    InstancesEvaluator,
    nan_metrics,
    paused_gc,
    stats_to_percent,
)
from det.evaluation.testing import create_table

__all__ = ["COCOEvaluator", "instances_to_coco_json"]

logger = logging.getLogger(__name__)

_TASK_METRICS = {
    "bbox": ["AP", "AP50", "AP75", "APs", "APm", "APl"],
    "segm": ["AP", "AP50", "AP75", "APs", "APm", "APl"],
    "keypoints": ["AP", "AP50", "AP75", "APm", "APl"],
}


class _COCOevalMaxDets(COCOeval):
    """``COCOeval`` whose summary uses ``params.maxDets[-1]`` for every AP and large-N AR.

    pycocotools' ``summarize`` hard-codes 100 detections for the headline AP, so with
    ``maxDets=[1, 10, 300]`` it would report AP = -1. Only the summary differs; the per-image
    evaluation and accumulation are pycocotools' own.
    """

    def _summarize_one(self, ap: bool, iou_thr=None, area_rng="all", max_dets=100) -> float:
        p = self.params
        area_idx = [i for i, label in enumerate(p.areaRngLbl) if label == area_rng]
        det_idx = [i for i, m in enumerate(p.maxDets) if m == max_dets]
        values = self.eval["precision"] if ap else self.eval["recall"]
        if iou_thr is not None:
            values = values[np.where(iou_thr == p.iouThrs)[0]]
        values = values[..., area_idx, :][..., det_idx]
        valid = values[values > -1]
        mean = -1.0 if len(valid) == 0 else float(np.mean(valid))
        iou_str = (
            f"{p.iouThrs[0]:0.2f}:{p.iouThrs[-1]:0.2f}" if iou_thr is None else f"{iou_thr:0.2f}"
        )
        kind = "Average Precision  (AP)" if ap else "Average Recall     (AR)"
        print(
            f" {kind} @[ IoU={iou_str:<9} | area={area_rng:>6s} | maxDets={max_dets:>3d} ] "
            f"= {mean:0.3f}"
        )
        return mean

    def summarize(self) -> None:
        if not self.eval:
            raise RuntimeError("COCOeval.summarize() called before accumulate()")
        m = self.params.maxDets
        s = self._summarize_one
        self.stats = np.array(
            [
                s(True, max_dets=m[2]),
                s(True, iou_thr=0.5, max_dets=m[2]),
                s(True, iou_thr=0.75, max_dets=m[2]),
                s(True, area_rng="small", max_dets=m[2]),
                s(True, area_rng="medium", max_dets=m[2]),
                s(True, area_rng="large", max_dets=m[2]),
                s(False, max_dets=m[0]),
                s(False, max_dets=m[1]),
                s(False, max_dets=m[2]),
                s(False, area_rng="small", max_dets=m[2]),
                s(False, area_rng="medium", max_dets=m[2]),
                s(False, area_rng="large", max_dets=m[2]),
            ]
        )


def _run_coco_eval(
    coco_gt: COCO,
    coco_results: list[dict],
    iou_type: str,
    *,
    max_dets_per_image: list[int],
    kpt_oks_sigmas: Sequence[float] = (),
    img_ids: Sequence[int] | None = None,
    use_fast_impl: bool = False,
) -> COCOeval:
    """Run (Fast)COCOeval on ``coco_results`` (mutated by ``loadRes``) and return it summarized."""
    custom_max = iou_type != "keypoints" and max_dets_per_image[2] != 100
    if use_fast_impl:
        coco_eval = _fast_coco_eval(coco_gt, coco_results, iou_type)
    else:
        with contextlib.redirect_stdout(io.StringIO()):
            coco_dt = coco_gt.loadRes(coco_results)
        coco_eval = (_COCOevalMaxDets if custom_max else COCOeval)(coco_gt, coco_dt, iou_type)
    if iou_type != "keypoints":
        coco_eval.params.maxDets = list(max_dets_per_image)
    if img_ids is not None:
        coco_eval.params.imgIds = list(img_ids)
    if iou_type == "keypoints":
        _set_keypoint_sigmas(coco_eval, coco_results, kpt_oks_sigmas)

    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    if log.getvalue():
        logger.info(f"COCOeval ({iou_type}) output:\n{log.getvalue().rstrip()}")
    return coco_eval


def _set_keypoint_sigmas(coco_eval: Any, coco_results: list[dict], sigmas: Sequence[float]) -> None:
    if sigmas:
        coco_eval.params.kpt_oks_sigmas = np.array(sigmas)
    num_pred = len(coco_results[0]["keypoints"]) // 3
    num_sigmas = len(coco_eval.params.kpt_oks_sigmas)
    if num_pred != num_sigmas:
        raise ValueError(
            f"Predictions have {num_pred} keypoints but COCOeval has {num_sigmas} OKS sigmas; "
            "pass kpt_oks_sigmas= with one sigma per keypoint to COCOEvaluator"
        )


def _fast_coco_eval(coco_gt: COCO, coco_results: list[dict], iou_type: str) -> Any:
    try:
        import faster_coco_eval
    except ImportError as e:
        raise ImportError(
            "COCOEvaluator(use_fast_impl=True) needs the optional package faster-coco-eval: "
            "pip install faster-coco-eval"
        ) from e
    # Its own COCO copy: faster-coco-eval's loader may rewrite annotations in place. Its summary
    # already uses maxDets[-1] for AP, and stats[:12] are laid out as pycocotools' are.
    gt = faster_coco_eval.COCO(coco_gt.dataset, use_deepcopy=True)
    dt = gt.loadRes(coco_results)
    return faster_coco_eval.COCOeval_faster(gt, dt, iou_type)


class COCOEvaluator(InstancesEvaluator):
    """Box, mask and keypoint AP with the official COCO API (detectron2's ``COCOEvaluator``).

    Ground truth comes from the dataset metadata's ``json_file``; a dataset registered without one
    is converted from its dataset dicts (``det.data.datasets.coco.convert_to_coco_dict``; cached as
    ``<output_dir>/<dataset_name>_coco_format.json`` when ``output_dir`` is set). Predicted class
    ids are mapped back to dataset ids with the metadata's ``thing_dataset_id_to_contiguous_id``.
    When the metadata lacks that mapping (a dataset registered with a ``json_file`` but never
    loaded in this process, e.g. when evaluating saved predictions), it is set from the JSON's
    categories exactly as loading the dataset would (sorted ids -> 0..K-1, names as
    ``thing_classes``); without it, non-contiguous ids such as COCO's would silently give
    near-zero AP.

    Results are percentages: ``{"bbox": {"AP", "AP50", "AP75", "APs", "APm", "APl",
    "AP-<class>"...}, "segm": {...}}`` (a metric pycocotools reports as -1 becomes NaN).

    Args:
        dataset_name: a registered dataset name.
        tasks: subset of ``("bbox", "segm", "keypoints")``; inferred from the predictions if None.
        distributed: gather predictions from all ranks and evaluate on the main rank. If False,
            each rank evaluates only what it processed.
        output_dir: if set, ``coco_instances_results.json`` (all predictions, COCO format,
            dataset category ids) is written there.
        max_dets_per_image: detections per image counted by COCOeval (its ``maxDets`` becomes
            ``[1, 10, max_dets_per_image]``; None means pycocotools' 100). COCOeval applies the cap
            per image *and category*.
        use_fast_impl: evaluate with the optional ``faster-coco-eval`` package (C++; the same
            numbers) instead of pycocotools.
        kpt_oks_sigmas: per-keypoint OKS sigmas for the keypoints task (COCO person's if empty).
        allow_cached_coco: reuse an existing converted ground-truth JSON in ``output_dir``.
    """

    def __init__(
        self,
        dataset_name: str,
        tasks: Sequence[str] | None = None,
        distributed: bool = True,
        output_dir: str | None = None,
        *,
        max_dets_per_image: int | None = None,
        use_fast_impl: bool = False,
        kpt_oks_sigmas: Sequence[float] = (),
        allow_cached_coco: bool = True,
    ) -> None:
        if tasks is not None:
            unknown = sorted(set(tasks) - set(_TASK_METRICS))
            if unknown:
                raise ValueError(
                    f"COCOEvaluator: unknown tasks {unknown}; expected a subset of "
                    f"{sorted(_TASK_METRICS)}"
                )
        super().__init__(dataset_name, tasks, distributed, output_dir)
        self._max_dets = [1, 10, 100 if max_dets_per_image is None else int(max_dets_per_image)]
        self._use_fast_impl = use_fast_impl
        self._kpt_oks_sigmas = tuple(kpt_oks_sigmas)
        self._allow_cached_coco = allow_cached_coco
        self._json_file = getattr(self._metadata, "json_file", None)
        # Only the dataset's own JSON defines category ids; a converted one keeps the ids the
        # dataset dicts have.
        self._gt_is_dataset_json = self._json_file is not None
        if self._json_file is not None and not os.path.isfile(self._json_file):
            raise FileNotFoundError(
                f"COCOEvaluator: ground-truth json_file of dataset '{dataset_name}' not found: "
                f"{self._json_file}"
            )
        self._coco_api: COCO | None = None

    def _load_coco_gt(self) -> COCO:
        if self._coco_api is not None:
            return self._coco_api
        json_file = self._json_file
        if json_file is None:
            json_file = self._convert_dataset_to_coco()
        with contextlib.redirect_stdout(io.StringIO()):
            if isinstance(json_file, dict):
                coco = COCO()
                coco.dataset = json_file
                coco.createIndex()
            else:
                coco = COCO(json_file)
        self._coco_api = coco
        return coco

    def _convert_dataset_to_coco(self) -> str | dict:
        from det.data.datasets.coco import convert_to_coco_dict, convert_to_coco_json

        logger.info(
            f"Dataset '{self._dataset_name}' has no json_file in its metadata; converting its "
            "dataset dicts to COCO format for evaluation."
        )
        if self._output_dir is None:
            return convert_to_coco_dict(self._dataset_name)
        cache_path = os.path.join(self._output_dir, f"{self._dataset_name}_coco_format.json")
        convert_to_coco_json(self._dataset_name, cache_path, allow_cached=self._allow_cached_coco)
        self._json_file = cache_path
        return cache_path

    def evaluate(self, img_ids: Sequence[int] | None = None) -> OrderedDict | dict:
        """Evaluate everything processed since :meth:`reset`.

        Args:
            img_ids: evaluate only these image ids (all ground-truth images when None).

        Returns:
            ``{task: {metric: value}}`` on the main rank (or on every rank when not
            distributed); ``{}`` elsewhere and when there were no predictions.
        """
        records = self._gather_records()
        if records is None:
            return {}
        coco_gt = self._load_coco_gt()
        if self._gt_is_dataset_json:
            self._ensure_category_mapping(coco_gt)
        # Without a mapping the contiguous ids are the dataset ids (detectron2's behaviour).
        category_ids = contiguous_to_dataset_ids(self._metadata)
        self._save_records(records, category_ids, "coco_instances_results.json")

        if "annotations" not in coco_gt.dataset:
            logger.info(f"'{self._dataset_name}' has no annotations; predictions saved only.")
            return {}
        tasks = self._tasks or _tasks_from_records(records)
        results: OrderedDict = OrderedDict()
        for task in sorted(tasks):
            coco_eval = None
            with paused_gc():
                coco_results = records_to_results(records, category_ids, task)
                if coco_results:
                    coco_eval = _run_coco_eval(
                        coco_gt,
                        coco_results,
                        task,
                        max_dets_per_image=self._max_dets,
                        kpt_oks_sigmas=self._kpt_oks_sigmas,
                        img_ids=img_ids,
                        use_fast_impl=self._use_fast_impl,
                    )
                del coco_results
            results[task] = self._derive_coco_results(coco_eval, task)
        return results

    def _ensure_category_mapping(self, coco_gt: COCO) -> None:
        """Set ``thing_classes`` / ``thing_dataset_id_to_contiguous_id`` from the ground-truth JSON
        when the metadata lacks the mapping (what ``DatasetCatalog.get`` would have set)."""
        if self._metadata.get("thing_dataset_id_to_contiguous_id") is not None:
            return
        from det.data.datasets.coco import set_thing_classes

        categories = sorted(coco_gt.dataset.get("categories", []), key=lambda c: c["id"])
        if not categories:
            raise ValueError(
                f"COCOEvaluator: {self._json_file} (json_file of dataset '{self._dataset_name}') "
                "has no 'categories', so predicted classes (contiguous 0..K-1) cannot be mapped "
                "to its category ids; add the categories or set "
                "thing_dataset_id_to_contiguous_id in the dataset's metadata"
            )
        ids = [c["id"] for c in categories]
        set_thing_classes(self._dataset_name, [c["name"] for c in categories], ids, self._json_file)
        logger.info(
            f"Dataset '{self._dataset_name}' was not loaded in this process; mapped predicted "
            f"classes 0..{len(ids) - 1} to the category ids of {self._json_file} in sorted order "
            f"({ids[:5]}{'...' if len(ids) > 5 else ''})."
        )

    def _derive_coco_results(self, coco_eval: COCOeval | None, iou_type: str) -> dict:
        metrics = _TASK_METRICS[iou_type]
        if coco_eval is None:
            return nan_metrics(metrics, iou_type)
        results = stats_to_percent(coco_eval.stats, metrics, iou_type)
        if not np.isfinite(sum(results.values())):
            logger.info("Some metrics cannot be computed and are shown as NaN.")

        per_category = _per_category_ap(coco_eval, self._metadata)
        if per_category:
            flat = [x for name_ap in per_category.items() for x in name_ap]
            rows = [flat[i : i + 6] for i in range(0, len(flat), 6)]
            headers = ["category", "AP"] * (min(len(per_category), 3))
            logger.info(f"Per-category {iou_type} AP:\n" + create_table(headers, rows))
            results.update({f"AP-{name}": ap for name, ap in per_category.items()})
        return results


def _tasks_from_records(records: list[dict]) -> tuple[str, ...]:
    tasks = {"bbox"}
    for record in records:
        if record["rles"] is not None:
            tasks.add("segm")
        if record["keypoints"] is not None:
            tasks.add("keypoints")
    return tuple(sorted(tasks))


def _per_category_ap(coco_eval: COCOeval, metadata: Any) -> dict[str, float]:
    """AP (percent) per category at all areas and the largest maxDets, named by class name."""
    class_names = getattr(metadata, "thing_classes", None)
    if not class_names:
        return {}
    mapping = getattr(metadata, "thing_dataset_id_to_contiguous_id", None)
    # precision: [T iou thresholds, R recall thresholds, C categories, A areas, M maxDets]
    precision = coco_eval.eval["precision"]
    out = {}
    for k, cat_id in enumerate(coco_eval.params.catIds):
        contiguous = mapping.get(cat_id) if mapping is not None else cat_id
        if contiguous is None or not 0 <= contiguous < len(class_names):
            continue
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        out[class_names[contiguous]] = float(np.mean(p) * 100) if p.size else float("nan")
    return out
