"""COCOEvaluator must give exactly pycocotools' COCOeval numbers on the same predictions."""

import contextlib
import io
import json
import uuid

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
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
from det.evaluation import COCOEvaluator, instances_to_coco_json

CAT_IDS = [1, 3, 7, 8, 12]  # non-contiguous dataset ids
METRICS = ["AP", "AP50", "AP75", "APs", "APm", "APl"]


@pytest.fixture(scope="module")
def coco_data(tmp_path_factory):
    rng = np.random.default_rng(0)
    gt = make_gt(rng, 60, CAT_IDS)
    preds = make_predictions(rng, gt, CAT_IDS, crowded_image_dets=30)
    root = tmp_path_factory.mktemp("coco_eval")
    json_file = str(root / "instances.json")
    with open(json_file, "w") as f:
        json.dump(gt, f)
    name = f"test_coco_eval_{uuid.uuid4().hex[:8]}"
    MetadataCatalog.get(name).set(
        json_file=json_file,
        thing_classes=[f"class_{c}" for c in CAT_IDS],
        thing_dataset_id_to_contiguous_id={c: i for i, c in enumerate(CAT_IDS)},
    )
    yield {"name": name, "json_file": json_file, "gt": gt, "preds": preds, "root": root}
    MetadataCatalog.remove(name)


def _run_evaluator(evaluator, preds, batch=4, with_masks=True):
    evaluator.reset()
    for i in range(0, len(preds), batch):
        chunk = preds[i : i + batch]
        inputs = [{"image_id": p["image_id"]} for p in chunk]
        outputs = [{"instances": to_instances(p, with_masks=with_masks)} for p in chunk]
        evaluator.process(inputs, outputs)
    return evaluator.evaluate()


def _reference_eval(json_file, results, iou_type, max_dets=None):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(json_file)
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, iou_type)
        if max_dets is not None:
            ev.params.maxDets = [1, 10, max_dets]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def _reference_per_category(ev):
    out = []
    for k in range(len(ev.params.catIds)):
        p = ev.eval["precision"][:, :, k, 0, -1]
        p = p[p > -1]
        out.append(float(np.mean(p) * 100) if p.size else float("nan"))
    return out


def test_bbox_and_segm_equal_cocoeval(coco_data, tmp_path):
    num_dets = sum(len(p["scores"]) for p in coco_data["preds"])
    assert num_dets > 300, num_dets
    evaluator = COCOEvaluator(coco_data["name"], output_dir=str(tmp_path))
    results = _run_evaluator(evaluator, coco_data["preds"])
    assert list(results) == ["bbox", "segm"]

    for task in ("bbox", "segm"):
        ref = _reference_eval(
            coco_data["json_file"], reference_results(coco_data["preds"], CAT_IDS, task), task
        )
        for i, metric in enumerate(METRICS):
            assert_same_metric(results[task][metric], ref.stats[i])
        per_cat = [results[task][f"AP-class_{c}"] for c in CAT_IDS]
        np.testing.assert_array_equal(per_cat, _reference_per_category(ref))
        assert 5 < results[task]["AP"] < 95  # neither trivial nor broken

    # The written JSON is the complete prediction set with dataset category ids.
    with open(tmp_path / "coco_instances_results.json") as f:
        written = json.load(f)
    assert len(written) == num_dets
    ref_bbox = reference_results(coco_data["preds"], CAT_IDS, "bbox")
    assert [r["bbox"] for r in written] == [r["bbox"] for r in ref_bbox]
    assert [r["category_id"] for r in written] == [r["category_id"] for r in ref_bbox]
    ref_segm = reference_results(coco_data["preds"], CAT_IDS, "segm")
    assert [r["segmentation"] for r in written] == [r["segmentation"] for r in ref_segm]
    # and pycocotools run on that file gives the evaluator's numbers
    ev = _reference_eval(
        coco_data["json_file"], str(tmp_path / "coco_instances_results.json"), "bbox"
    )
    assert_same_metric(results["bbox"]["AP"], ev.stats[0])


def test_max_dets_per_image(coco_data):
    max_dets = 20
    evaluator = COCOEvaluator(coco_data["name"], tasks=("bbox",), max_dets_per_image=max_dets)
    results = _run_evaluator(evaluator, coco_data["preds"], with_masks=False)
    assert list(results) == ["bbox"]
    ref = _reference_eval(
        coco_data["json_file"],
        reference_results(coco_data["preds"], CAT_IDS, "bbox"),
        "bbox",
        max_dets=max_dets,
    )
    # pycocotools' own summary hard-codes maxDets=100 for the headline AP (-1 here): compute it
    # from the accumulated precision with maxDets = 20 instead.
    assert ref.stats[0] == -1
    p = ref.eval["precision"][:, :, :, 0, -1]
    assert results["bbox"]["AP"] == float(np.mean(p[p > -1]) * 100)
    for i, metric in enumerate(METRICS[1:], start=1):
        assert_same_metric(results["bbox"][metric], ref.stats[i])

    default = _run_evaluator(
        COCOEvaluator(coco_data["name"], tasks=("bbox",)), coco_data["preds"], with_masks=False
    )
    assert default["bbox"]["AP"] != results["bbox"]["AP"]  # the cap mattered


def test_img_ids_subset(coco_data):
    img_ids = [img["id"] for img in coco_data["gt"]["images"][:20]]
    evaluator = COCOEvaluator(coco_data["name"], tasks=("bbox",))
    _run_evaluator(evaluator, coco_data["preds"], with_masks=False)
    results = evaluator.evaluate(img_ids=img_ids)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(coco_data["json_file"])
        ev = COCOeval(
            gt, gt.loadRes(reference_results(coco_data["preds"], CAT_IDS, "bbox")), "bbox"
        )
        ev.params.imgIds = img_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    for i, metric in enumerate(METRICS):
        assert_same_metric(results["bbox"][metric], ev.stats[i])


def test_no_detections_gives_nan(coco_data):
    empty = [
        {
            **p,
            "boxes": p["boxes"][:0],
            "scores": p["scores"][:0],
            "classes": p["classes"][:0],
            "masks": p["masks"][:0],
        }
        for p in coco_data["preds"][:3]
    ]
    results = _run_evaluator(COCOEvaluator(coco_data["name"]), empty)
    # the model predicts masks (an empty pred_masks field), so segm is evaluated too
    assert list(results) == ["bbox", "segm"]
    assert all(np.isnan(results[t][m]) for t in results for m in METRICS)


def test_instances_to_coco_json_contiguous_ids(coco_data):
    pred = coco_data["preds"][0]
    out = instances_to_coco_json(to_instances(pred), pred["image_id"])
    assert [r["category_id"] for r in out] == pred["classes"].tolist()
    assert list(out[0]) == ["image_id", "category_id", "bbox", "score", "segmentation"]
    ref = reference_results([pred], list(range(len(CAT_IDS))), "segm")
    assert [r["segmentation"] for r in out] == [r["segmentation"] for r in ref]


def test_dataset_without_json_file_is_converted(tmp_path):
    """A dataset registered only in DatasetCatalog is converted to COCO format for evaluation."""
    rng = np.random.default_rng(1)
    cats = [0, 1, 2]
    gt = make_gt(rng, 12, cats)
    name = f"test_coco_eval_dicts_{uuid.uuid4().hex[:8]}"
    by_img = {img["id"]: [] for img in gt["images"]}
    for ann in gt["annotations"]:
        by_img[ann["image_id"]].append(ann)
    dicts = [
        {
            "file_name": img["file_name"],
            "image_id": img["id"],
            "height": img["height"],
            "width": img["width"],
            "annotations": [
                {
                    "bbox": a["bbox"],
                    "bbox_mode": 1,  # BoxMode.XYWH_ABS
                    "category_id": a["category_id"],
                    "segmentation": a["segmentation"],
                    "iscrowd": a["iscrowd"],
                }
                for a in by_img[img["id"]]
            ],
        }
        for img in gt["images"]
    ]
    DatasetCatalog.register(name, lambda: dicts)
    MetadataCatalog.get(name).set(thing_classes=["a", "b", "c"])
    try:
        preds = make_predictions(rng, gt, cats)
        results = _run_evaluator(COCOEvaluator(name, tasks=("bbox",)), preds, with_masks=False)
        json_file = tmp_path / "gt.json"
        json_file.write_text(json.dumps(gt))
        ref = _reference_eval(str(json_file), reference_results(preds, cats, "bbox"), "bbox")
        for i, metric in enumerate(METRICS):
            assert_same_metric(results["bbox"][metric], ref.stats[i])
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def test_keypoints_equal_cocoeval(tmp_path):
    rng = np.random.default_rng(2)
    cats = [1]
    sigmas = [0.05, 0.07, 0.09]
    gt = make_gt(rng, 20, cats, keypoints=3)
    preds = make_predictions(rng, gt, cats, keypoints=3)
    json_file = tmp_path / "kp.json"
    json_file.write_text(json.dumps(gt))
    name = f"test_coco_eval_kp_{uuid.uuid4().hex[:8]}"
    MetadataCatalog.get(name).set(
        json_file=str(json_file),
        thing_classes=["person"],
        thing_dataset_id_to_contiguous_id={1: 0},
    )
    try:
        evaluator = COCOEvaluator(name, tasks=("keypoints",), kpt_oks_sigmas=sigmas)
        results = _run_evaluator(evaluator, preds, with_masks=False)
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(str(json_file))
            ev = COCOeval(
                coco, coco.loadRes(reference_results(preds, cats, "keypoints")), "keypoints"
            )
            ev.params.kpt_oks_sigmas = np.array(sigmas)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        for i, metric in enumerate(["AP", "AP50", "AP75", "APm", "APl"]):
            assert_same_metric(results["keypoints"][metric], ev.stats[i])
        assert results["keypoints"]["AP50"] > 0
    finally:
        MetadataCatalog.remove(name)


def test_unknown_task_and_missing_json(coco_data, tmp_path):
    with pytest.raises(ValueError, match="unknown tasks"):
        COCOEvaluator(coco_data["name"], tasks=("bbox", "boxes"))
    name = f"test_coco_eval_missing_{uuid.uuid4().hex[:8]}"
    MetadataCatalog.get(name).set(json_file=str(tmp_path / "nope.json"))
    try:
        with pytest.raises(FileNotFoundError, match="nope.json"):
            COCOEvaluator(name)
    finally:
        MetadataCatalog.remove(name)


def test_use_fast_impl(coco_data):
    try:
        import faster_coco_eval  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install faster-coco-eval"):
            _run_evaluator(COCOEvaluator(coco_data["name"], use_fast_impl=True), coco_data["preds"])
        return
    slow = _run_evaluator(COCOEvaluator(coco_data["name"]), coco_data["preds"])
    fast = _run_evaluator(COCOEvaluator(coco_data["name"], use_fast_impl=True), coco_data["preds"])
    for task in slow:
        np.testing.assert_array_equal(list(fast[task].values()), list(slow[task].values()))


def test_builtin_coco_val_perfect_predictions(tmp_path):
    """The real coco_2017_val registration (80 ids with gaps) on a synthetic root: AP 100."""
    from evaluation_testdata import perfect_instances

    from det.data.datasets.builtin import register_all_coco
    from det.data.datasets.paths import get_datasets_root
    from det.data.datasets.synthetic import write_synthetic_coco

    write_synthetic_coco(str(tmp_path), split="val2017", num_images=6, num_classes=4)
    register_all_coco(str(tmp_path))
    try:
        dicts = DatasetCatalog.get("coco_2017_val")
        evaluator = COCOEvaluator("coco_2017_val", output_dir=str(tmp_path / "out"))
        evaluator.reset()
        evaluator.process(dicts, [{"instances": perfect_instances(d)} for d in dicts])
        results = evaluator.evaluate()
        assert results["bbox"]["AP"] == 100.0 and results["segm"]["AP"] == 100.0
        written = json.loads((tmp_path / "out" / "coco_instances_results.json").read_text())
        gt = json.loads(open(MetadataCatalog.get("coco_2017_val").json_file).read())
        gt_cats = sorted({a["category_id"] for a in gt["annotations"] if not a["iscrowd"]})
        assert sorted({r["category_id"] for r in written}) == gt_cats
    finally:
        register_all_coco(get_datasets_root())


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_mask_encoding_devices_and_dtypes(device):
    masks = torch.rand(4, 9, 13, generator=torch.Generator().manual_seed(0)) > 0.5
    masks[3] = False  # an empty mask
    ref = [
        mask_util.encode(np.asfortranarray(m.numpy().astype(np.uint8)))["counts"].decode()
        for m in masks
    ]
    for variant in (masks, masks.float(), masks.to(torch.uint8) * 255):
        inst = to_instances(
            {
                "boxes": np.zeros((4, 4), np.float32),
                "scores": np.ones(4, np.float32),
                "classes": np.zeros(4, np.int64),
                "masks": variant.numpy(),
            }
        ).to(device)
        out = instances_to_coco_json(inst, 1)
        assert [r["segmentation"]["counts"] for r in out] == ref
        assert all(r["segmentation"]["size"] == [9, 13] for r in out)


def test_mask_scores_rank_segm_only(coco_data):
    """``Instances.mask_scores`` (maskness kept apart) scores masks; boxes keep ``scores``."""
    rng = np.random.default_rng(1)
    preds = [dict(p, mask_scores=rng.random(len(p["scores"]))) for p in coco_data["preds"]]
    evaluator = COCOEvaluator(coco_data["name"])
    evaluator.reset()
    for p in preds:
        inst = to_instances(p)
        inst.mask_scores = torch.from_numpy(p["mask_scores"]).float()
        evaluator.process([{"image_id": p["image_id"]}], [{"instances": inst}])
    results = evaluator.evaluate()

    ref_bbox = _reference_eval(
        coco_data["json_file"], reference_results(preds, CAT_IDS, "bbox"), "bbox"
    )
    rescored = [dict(p, scores=p["mask_scores"].astype(np.float32)) for p in preds]
    ref_segm = _reference_eval(
        coco_data["json_file"], reference_results(rescored, CAT_IDS, "segm"), "segm"
    )
    for i, metric in enumerate(METRICS):
        assert_same_metric(results["bbox"][metric], ref_bbox.stats[i])
        assert_same_metric(results["segm"][metric], ref_segm.stats[i])
