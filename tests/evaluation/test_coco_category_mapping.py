"""COCOEvaluator on a dataset that was registered but never loaded in this process.

Category ids 1, 5, 90 are non-contiguous: without the JSON's mapping, predicted class k would be
read as category id k and AP would collapse. The reference is pycocotools' COCOeval on result
dicts written here with the ids mapped by hand.
"""

import contextlib
import io
import json
import uuid

import numpy as np
import pytest
from evaluation_testdata import (
    assert_same_metric,
    make_gt,
    make_predictions,
    reference_results,
    to_instances,
)
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from det.data.catalog import DatasetCatalog, MetadataCatalog
from det.data.datasets.coco import register_coco_instances
from det.evaluation import COCOEvaluator
from det.evaluation.coco_results import PredictedClassError
from det.utils.errors import UserError

CAT_IDS = [1, 5, 90]
METRICS = ["AP", "AP50", "AP75", "APs", "APm", "APl"]


@pytest.fixture
def unloaded(tmp_path):
    rng = np.random.default_rng(5)
    gt = make_gt(rng, 30, CAT_IDS)
    preds = make_predictions(rng, gt, CAT_IDS)
    json_file = str(tmp_path / "instances.json")
    with open(json_file, "w") as f:
        json.dump(gt, f)
    name = f"test_unloaded_{uuid.uuid4().hex[:8]}"
    register_coco_instances(name, {}, json_file, str(tmp_path))
    try:
        # Fresh state: nothing has called DatasetCatalog.get(name), so no mapping is known yet.
        assert MetadataCatalog.get(name).get("thing_dataset_id_to_contiguous_id") is None
        yield {"name": name, "json_file": json_file, "gt": gt, "preds": preds}
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def _evaluate(name, preds, tmp_path=None):
    evaluator = COCOEvaluator(name, output_dir=None if tmp_path is None else str(tmp_path))
    evaluator.reset()
    for i in range(0, len(preds), 4):
        chunk = preds[i : i + 4]
        evaluator.process(
            [{"image_id": p["image_id"]} for p in chunk],
            [{"instances": to_instances(p)} for p in chunk],
        )
    return evaluator.evaluate()


def _cocoeval(json_file, results, task):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(json_file)
        ev = COCOeval(gt, gt.loadRes(results), task)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def test_unloaded_dataset_maps_ids_from_its_json(unloaded, tmp_path):
    results = _evaluate(unloaded["name"], unloaded["preds"], tmp_path)
    for task in ("bbox", "segm"):
        stats = _cocoeval(
            unloaded["json_file"], reference_results(unloaded["preds"], CAT_IDS, task), task
        )
        for i, metric in enumerate(METRICS):
            assert_same_metric(results[task][metric], stats[i])
        # Reading class k as category id k (the old behaviour) scores far lower.
        unmapped = _cocoeval(
            unloaded["json_file"], reference_results(unloaded["preds"], [0, 1, 2], task), task
        )
        assert results[task]["AP"] > 5 and results[task]["AP"] > 3 * unmapped[0] * 100
    # The mapping is the one loading the dataset sets, so the two paths agree afterwards.
    meta = MetadataCatalog.get(unloaded["name"])
    assert meta.thing_dataset_id_to_contiguous_id == {1: 0, 5: 1, 90: 2}
    assert meta.thing_classes == [c["name"] for c in unloaded["gt"]["categories"]]
    with open(tmp_path / "coco_instances_results.json") as f:
        assert {r["category_id"] for r in json.load(f)} <= set(CAT_IDS)


def test_json_categories_conflicting_with_registered_classes_are_refused(unloaded):
    MetadataCatalog.get(unloaded["name"]).set(thing_classes=["a", "b", "c"])
    with pytest.raises(UserError, match="thing_classes that differ"):
        _evaluate(unloaded["name"], unloaded["preds"])


def test_predicted_class_without_category_is_refused(unloaded):
    preds = [dict(unloaded["preds"][0])]
    preds[0]["classes"] = np.full_like(preds[0]["classes"], 3)  # only 0..2 exist
    assert len(preds[0]["classes"]) > 0
    with pytest.raises(PredictedClassError, match="predicted class 3 is outside") as info:
        _evaluate(unloaded["name"], preds)
    assert isinstance(info.value, AssertionError)  # what detectron2's evaluator raises
