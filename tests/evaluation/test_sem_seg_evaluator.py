"""SemSegEvaluator against a per-class NumPy reference (detectron2 and mmseg conventions)."""

import json
import uuid

import numpy as np
import pytest
import torch
from PIL import Image

from det.data.catalog import DatasetCatalog, MetadataCatalog
from det.evaluation import SemSegEvaluator

K = 6  # class 4 is predicted but never in the GT; class 5 appears nowhere
NAMES = [f"cls{i}" for i in range(K)]


def _write_dataset(root, rng, num_images=8, reduce_zero_label=False):
    """Label PNGs + score maps; returns dataset dicts, outputs and the true (reduced) labels."""
    records, outputs, labels = [], [], []
    for i in range(num_images):
        h, w = 20 + i, 30 - i
        gt = rng.integers(0, 4, size=(h, w))  # classes 0..3 only
        gt[rng.random((h, w)) < 0.1] = 255  # ignored pixels
        pred = np.where(rng.random((h, w)) < 0.7, gt, rng.integers(0, 5, size=(h, w)))
        pred = np.where(pred == 255, 4, pred)  # some predictions on ignored pixels
        scores = rng.random((K, h, w)).astype(np.float32)
        scores[pred, np.arange(h)[:, None], np.arange(w)[None, :]] += 1.0
        raw = gt.copy()
        if reduce_zero_label:
            raw = np.where(gt == 255, 0, gt + 1)  # ADE20K: 0 = other (ignored), k + 1 = class k
        path = root / f"label_{i}.png"
        Image.fromarray(raw.astype(np.uint8), mode="L").save(path)
        record = {"file_name": f"img_{i}.jpg", "sem_seg_file_name": str(path)}
        if reduce_zero_label:
            record["reduce_zero_label"] = True
        records.append(record)
        outputs.append({"sem_seg": torch.from_numpy(scores)})
        labels.append(gt)
    return records, outputs, labels


def _reference(labels, outputs):
    inter, pred_area, gt_area = np.zeros(K), np.zeros(K), np.zeros(K)
    for gt, out in zip(labels, outputs):
        pred = out["sem_seg"].numpy().argmax(0)
        valid = gt != 255
        for c in range(K):
            inter[c] += np.sum((pred == c) & (gt == c) & valid)
            pred_area[c] += np.sum((pred == c) & valid)
            gt_area[c] += np.sum((gt == c) & valid)
    union = pred_area + gt_area - inter
    d2_iou = [inter[c] / union[c] for c in range(K) if gt_area[c] > 0]
    d2_acc = [inter[c] / gt_area[c] for c in range(K) if gt_area[c] > 0]
    fw = sum(inter[c] / union[c] * gt_area[c] for c in range(K) if gt_area[c] > 0) / gt_area.sum()
    mm_iou = [inter[c] / union[c] for c in range(K) if union[c] > 0]  # predicted-only -> 0
    return {
        "mIoU": 100 * np.mean(d2_iou),
        "fwIoU": 100 * fw,
        "mACC": 100 * np.mean(d2_acc),
        "pACC": 100 * inter.sum() / gt_area.sum(),
        "IoU": [inter[c] / union[c] if gt_area[c] > 0 else np.nan for c in range(K)],
        "mmseg-aAcc": round(100 * inter.sum() / gt_area.sum(), 2),
        "mmseg-mIoU": round(100 * np.mean(mm_iou), 2),
        "mmseg-mAcc": round(100 * np.mean(d2_acc), 2),
    }


@pytest.fixture
def registered():
    names = []

    def register(records, **meta):
        name = f"test_sem_seg_eval_{uuid.uuid4().hex[:8]}"
        DatasetCatalog.register(name, lambda: records)
        MetadataCatalog.get(name).set(stuff_classes=NAMES, ignore_label=255, **meta)
        names.append(name)
        return name

    yield register
    for name in names:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


@pytest.mark.parametrize("reduce_zero_label", [False, True])
def test_matches_numpy_reference(tmp_path, registered, reduce_zero_label):
    rng = np.random.default_rng(0)
    records, outputs, labels = _write_dataset(tmp_path, rng, reduce_zero_label=reduce_zero_label)
    name = registered(records, reduce_zero_label=reduce_zero_label)
    evaluator = SemSegEvaluator(name)
    evaluator.reset()
    # Inputs without sem_seg_file_name, as a test mapper produces them: found via the catalog.
    for i in range(0, len(records), 3):
        evaluator.process(
            [{"file_name": r["file_name"]} for r in records[i : i + 3]], outputs[i : i + 3]
        )
    res = evaluator.evaluate()["sem_seg"]
    ref = _reference(labels, outputs)
    for key in ("mIoU", "fwIoU", "mACC", "pACC"):
        np.testing.assert_allclose(res[key], ref[key], rtol=1e-12)
    np.testing.assert_allclose([res[f"IoU-{n}"] for n in NAMES], 100 * np.array(ref["IoU"]))
    assert np.isnan(res["IoU-cls4"]) and np.isnan(res["ACC-cls5"])  # absent from GT
    for key in ("mmseg-aAcc", "mmseg-mIoU", "mmseg-mAcc"):
        assert res[key] == ref[key], key
    # The predicted-but-absent class 4 counts as IoU 0 for mmseg only.
    assert res["mmseg-mIoU"] < res["mIoU"]
    assert list(res)[:2] == ["mIoU", "fwIoU"]


def test_input_file_name_json_and_errors(tmp_path, registered):
    rng = np.random.default_rng(1)
    records, outputs, labels = _write_dataset(tmp_path, rng, num_images=2)
    name = registered(records)
    out_dir = tmp_path / "out"
    evaluator = SemSegEvaluator(name, output_dir=str(out_dir))
    evaluator.reset()
    evaluator.process(records, outputs)  # inputs carrying sem_seg_file_name
    res = evaluator.evaluate()["sem_seg"]
    np.testing.assert_allclose(res["pACC"], _reference(labels, outputs)["pACC"], rtol=1e-12)
    entries = json.loads((out_dir / "sem_seg_predictions.json").read_text())
    pred0 = outputs[0]["sem_seg"].numpy().argmax(0)
    assert sorted(e["category_id"] for e in entries if e["file_name"] == "img_0.jpg") == sorted(
        np.unique(pred0).tolist()
    )

    with pytest.raises(ValueError, match=r"shape \[6, H, W\]"):
        evaluator.process(records[:1], [{"sem_seg": torch.zeros(3, 4, 4)}])
    with pytest.raises(ValueError, match="original resolution"):
        evaluator.process(records[:1], [{"sem_seg": torch.zeros(K, 4, 4)}])
    bad = tmp_path / "bad.png"
    Image.fromarray(np.full((4, 4), 9, dtype=np.uint8), mode="L").save(bad)
    with pytest.raises(ValueError, match="label 9"):
        evaluator.process(
            [{"file_name": "x.jpg", "sem_seg_file_name": str(bad)}],
            [{"sem_seg": torch.zeros(K, 4, 4)}],
        )


def test_builtin_ade20k_reduce_zero_label(tmp_path):
    """ade20k_sem_seg_val's raw PNGs (0 = other) are read with reduce-zero-label: a prediction
    of raw - 1 everywhere is perfect, a prediction of the raw values is not."""
    from det.data.datasets.ade20k import register_all_ade20k
    from det.data.datasets.paths import get_datasets_root
    from det.data.datasets.synthetic import write_synthetic_ade20k

    write_synthetic_ade20k(str(tmp_path), split="validation", num_images=2, num_classes=6)
    register_all_ade20k(str(tmp_path))
    try:
        dicts = DatasetCatalog.get("ade20k_sem_seg_val")
        evaluator = SemSegEvaluator("ade20k_sem_seg_val")
        for shift, perfect in ((1, True), (0, False)):
            evaluator.reset()
            for d in dicts:
                raw = np.array(Image.open(d["sem_seg_file_name"]), dtype=np.int64)
                assert (raw == 0).any()  # some "other" pixels to ignore
                scores = torch.zeros(150, *raw.shape)
                labels = torch.from_numpy(np.clip(raw - shift, 0, 149))
                scores.scatter_(0, labels[None], 1.0)
                evaluator.process([{"file_name": d["file_name"]}], [{"sem_seg": scores}])
            res = evaluator.evaluate()["sem_seg"]
            if perfect:
                assert res["mIoU"] == res["pACC"] == res["mmseg-mIoU"] == 100.0
            else:
                assert res["pACC"] < 50.0
    finally:
        register_all_ade20k(get_datasets_root())
