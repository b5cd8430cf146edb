"""LVISEvaluator must give exactly lvis-api's LVISEval numbers on the same predictions."""

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
from lvis import LVIS, LVISEval, LVISResults

from det.data.catalog import MetadataCatalog
from det.evaluation import LVISEvaluator

# the reference runs call lvis-api directly, which uses the deprecated Logger.warn
pytestmark = pytest.mark.filterwarnings("ignore:The 'warn' method is deprecated:DeprecationWarning")

CAT_IDS = [1, 2, 3, 4, 5, 6]  # LVIS ids start at 1; frequencies cycle r, c, f
METRICS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf"]


@pytest.fixture(scope="module")
def lvis_data(tmp_path_factory):
    rng = np.random.default_rng(3)
    gt = make_gt(rng, 50, CAT_IDS, lvis=True)
    preds = make_predictions(rng, gt, CAT_IDS, crowded_image_dets=12)
    json_file = str(tmp_path_factory.mktemp("lvis_eval") / "lvis_val.json")
    with open(json_file, "w") as f:
        json.dump(gt, f)
    name = f"test_lvis_eval_{uuid.uuid4().hex[:8]}"
    # No thing_dataset_id_to_contiguous_id: the evaluator maps contiguous k -> LVIS id k + 1.
    MetadataCatalog.get(name).set(json_file=json_file, thing_classes=[f"c{c}" for c in CAT_IDS])
    yield {"name": name, "json_file": json_file, "preds": preds}
    MetadataCatalog.remove(name)


def _run(evaluator, preds):
    evaluator.reset()
    for i in range(0, len(preds), 3):
        chunk = preds[i : i + 3]
        evaluator.process(
            [{"image_id": p["image_id"]} for p in chunk],
            [{"instances": to_instances(p)} for p in chunk],
        )
    return evaluator.evaluate()


def _reference(json_file, results, iou_type, max_dets, monkeypatch):
    # lvis 0.5.3 needs np.float, gone in NumPy 2; provide it only for the reference run.
    with monkeypatch.context() as m:
        m.setattr(np, "float", float, raising=False)
        gt = LVIS(json_file)
        ev = LVISEval(gt, LVISResults(gt, results, max_dets=max_dets), iou_type)
        ev.run()
    return ev.get_results()


@pytest.mark.parametrize("max_dets", [300, 5])
def test_equal_lvis_eval(lvis_data, tmp_path, monkeypatch, max_dets):
    num_dets = sum(len(p["scores"]) for p in lvis_data["preds"])
    assert num_dets > 250, num_dets
    evaluator = LVISEvaluator(
        lvis_data["name"], output_dir=str(tmp_path), max_dets_per_image=max_dets
    )
    results = _run(evaluator, lvis_data["preds"])
    assert list(results) == ["bbox", "segm"]
    assert not hasattr(np, "float")  # the compatibility alias does not leak
    for task in ("bbox", "segm"):
        cat_ids = CAT_IDS  # contiguous k -> id k + 1
        ref = _reference(
            lvis_data["json_file"],
            reference_results(lvis_data["preds"], cat_ids, task),
            task,
            max_dets,
            monkeypatch,
        )
        for metric in METRICS:
            assert_same_metric(results[task][metric], ref[metric])
        assert 5 < results[task]["AP"] < 95
    assert (tmp_path / "lvis_instances_results.json").is_file()
    written = json.loads((tmp_path / "lvis_instances_results.json").read_text())
    assert len(written) == num_dets
    assert {r["category_id"] for r in written} <= set(CAT_IDS)


def test_max_dets_changes_results(lvis_data):
    small = _run(LVISEvaluator(lvis_data["name"], max_dets_per_image=5), lvis_data["preds"])
    large = _run(LVISEvaluator(lvis_data["name"], max_dets_per_image=1000), lvis_data["preds"])
    assert small["bbox"]["AP"] != large["bbox"]["AP"]


def test_missing_json_file_is_a_clear_error():
    name = f"test_lvis_eval_nojson_{uuid.uuid4().hex[:8]}"
    MetadataCatalog.get(name).set(thing_classes=["a"])
    try:
        with pytest.raises(FileNotFoundError, match=name):
            LVISEvaluator(name)
    finally:
        MetadataCatalog.remove(name)


def test_builtin_lvis_val_perfect_predictions(tmp_path):
    from evaluation_testdata import perfect_instances

    from det.data.catalog import DatasetCatalog
    from det.data.datasets.builtin import register_all_lvis
    from det.data.datasets.paths import get_datasets_root
    from det.data.datasets.synthetic import write_synthetic_lvis

    write_synthetic_lvis(str(tmp_path), split="val", num_images=6)
    register_all_lvis(str(tmp_path))
    try:
        dicts = DatasetCatalog.get("lvis_v1_val")
        evaluator = LVISEvaluator("lvis_v1_val", max_dets_per_image=1000)
        evaluator.reset()
        evaluator.process(dicts, [{"instances": perfect_instances(d)} for d in dicts])
        results = evaluator.evaluate()
        assert results["bbox"]["AP"] == 100.0 and results["segm"]["AP"] == 100.0
    finally:
        register_all_lvis(get_datasets_root())
