"""COCO-style box / mask / keypoint AP with pycocotools' ``COCOeval``.

Glossary: N detections in one image, K keypoints per instance, C categories.

Predictions are kept compact while inference runs (one record per image holding NumPy arrays and
RLE strings, not one Python dict per detection), gathered to the main rank a few hundred images at
a time (:func:`det.evaluation.evaluator.gather_to_main`), and only turned into COCO result dicts,
one task at a time, right before ``COCOeval`` needs them. The numbers are exactly those of running
pycocotools on the ``coco_instances_results.json`` this evaluator writes.
"""

from __future__ import annotations

import contextlib
import gc
import io
import itertools
import json
import logging
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pycocotools.mask as mask_util
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from det.data.catalog import MetadataCatalog
from det.evaluation.evaluator import DatasetEvaluator, gather_to_main
from det.evaluation.testing import create_small_table, create_table
from det.utils import comm

__all__ = [
    "COCOEvaluator",
    "instances_to_coco_json",
    "compact_instances",
    "records_to_results",
    "contiguous_to_dataset_ids",
    "write_results_json",
    "paused_gc",
]

logger = logging.getLogger(__name__)

_TASK_METRICS = {
    "bbox": ["AP", "AP50", "AP75", "APs", "APm", "APl"],
    "segm": ["AP", "AP50", "AP75", "APs", "APm", "APl"],
    "keypoints": ["AP", "AP50", "AP75", "APm", "APl"],
}


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector inside the block (restored afterwards).

    pycocotools and lvis-api allocate millions of small dicts and lists (one per detection, one
    per image x category x area), which keep triggering full collections that find nothing to
    free; pausing them saves about 10% of COCOeval's time. Reference counting still frees memory.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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
        in COCO coordinates, or None)}``.
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
    }
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
            raise ValueError(
                f"Image {record['image_id']}: predicted class {int(bad[0])} is outside the "
                f"dataset's contiguous category ids 0..{len(category_ids) - 1}"
            )
        classes = category_ids[classes]
    want = set(fields) if fields is not None else {"bbox", "segmentation", "keypoints"}
    boxes = record["boxes"].tolist() if "bbox" in want else None
    rles = record["rles"] if "segmentation" in want else None
    keypoints = record["keypoints"] if "keypoints" in want else None
    results = []
    for i, (cat, score) in enumerate(zip(classes.tolist(), record["scores"].tolist())):
        result = {"image_id": record["image_id"], "category_id": cat}
        if boxes is not None:
            result["bbox"] = boxes[i]
        result["score"] = score
        if rles is not None:
            result["segmentation"] = rles[i]
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


class COCOEvaluator(DatasetEvaluator):
    """Box, mask and keypoint AP with the official COCO API (detectron2's ``COCOEvaluator``).

    Ground truth comes from the dataset metadata's ``json_file``; a dataset registered without one
    is converted from its dataset dicts (``det.data.datasets.coco.convert_to_coco_dict``; cached as
    ``<output_dir>/<dataset_name>_coco_format.json`` when ``output_dir`` is set). Predicted class
    ids are mapped back to dataset ids with the metadata's ``thing_dataset_id_to_contiguous_id``.

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
        self._dataset_name = dataset_name
        self._tasks = tuple(tasks) if tasks is not None else None
        self._distributed = distributed
        self._output_dir = output_dir
        self._max_dets = [1, 10, 100 if max_dets_per_image is None else int(max_dets_per_image)]
        self._use_fast_impl = use_fast_impl
        self._kpt_oks_sigmas = tuple(kpt_oks_sigmas)
        self._allow_cached_coco = allow_cached_coco
        self._metadata = MetadataCatalog.get(dataset_name)
        self._json_file = getattr(self._metadata, "json_file", None)
        if self._json_file is not None and not os.path.isfile(self._json_file):
            raise FileNotFoundError(
                f"COCOEvaluator: ground-truth json_file of dataset '{dataset_name}' not found: "
                f"{self._json_file}"
            )
        self._coco_api: COCO | None = None
        self._predictions: list[dict] = []

    def reset(self) -> None:
        self._predictions = []

    def process(self, inputs: list[dict], outputs: list[dict]) -> None:
        for inp, out in zip(inputs, outputs):
            if "instances" in out:
                self._predictions.append(compact_instances(out["instances"], inp["image_id"]))

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

    def _gather(self) -> list[dict] | None:
        if not self._distributed:
            return self._predictions
        comm.synchronize()
        return gather_to_main(self._predictions)

    def evaluate(self, img_ids: Sequence[int] | None = None) -> OrderedDict | dict:
        """Evaluate everything processed since :meth:`reset`.

        Args:
            img_ids: evaluate only these image ids (all ground-truth images when None).

        Returns:
            ``{task: {metric: value}}`` on the main rank (or on every rank when not
            distributed); ``{}`` elsewhere and when there were no predictions.
        """
        records = self._gather()
        if records is None:
            return {}
        if len(records) == 0:
            logger.warning("[COCOEvaluator] Did not receive valid predictions.")
            return {}
        # Without a mapping the contiguous ids are the dataset ids (detectron2's behaviour).
        category_ids = contiguous_to_dataset_ids(self._metadata)
        if self._output_dir:
            path = os.path.join(self._output_dir, "coco_instances_results.json")
            logger.info(f"Saving results to {path}")
            write_results_json(records, category_ids, path)

        coco_gt = self._load_coco_gt()
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

    def _derive_coco_results(self, coco_eval: COCOeval | None, iou_type: str) -> dict:
        metrics = _TASK_METRICS[iou_type]
        if coco_eval is None:
            logger.warning(f"No predictions for task {iou_type}: all metrics are NaN.")
            return {m: float("nan") for m in metrics}
        results = {
            m: float(coco_eval.stats[i] * 100) if coco_eval.stats[i] >= 0 else float("nan")
            for i, m in enumerate(metrics)
        }
        logger.info(f"Evaluation results for {iou_type}:\n" + create_small_table(results))
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
