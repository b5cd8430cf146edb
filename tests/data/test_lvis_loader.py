import json
import os

import pytest
import torch
from lvis import LVIS

from det.data import DatasetCatalog, MetadataCatalog
from det.data.datasets import (
    load_lvis_json,
    write_synthetic_lvis,
)
from det.data.datasets.lvis import read_json_categories

# The table det ships (a copy of shared/spec/metadata), read here with json alone.
SHIPPED_LVIS = os.path.join(
    os.path.dirname(__file__),
    "..",
    "..",
    "det",
    "data",
    "datasets",
    "metadata",
    "lvis_v1_categories.json",
)


def test_lvis_val_from_synthetic_root(root):
    json_file = write_synthetic_lvis(root, "val", num_images=9, num_classes=6)
    api = LVIS(json_file)  # the official API reads our layout

    # Built-in LVIS v1 metadata comes from the table shipped with det, not from this JSON.
    meta = MetadataCatalog.get("lvis_v1_val")
    assert meta.evaluator_type == "lvis"
    assert len(meta.thing_classes) == 1203 and meta.thing_classes[0] == "aerosol_can"
    assert meta.thing_dataset_id_to_contiguous_id[1203] == 1202

    records = DatasetCatalog.get("lvis_v1_val")
    assert len(records) == 9
    folders = set()
    for r in records:
        img = api.imgs[r["image_id"]]
        folder, name = img["coco_url"].split("/")[-2:]
        folders.add(folder)
        assert r["file_name"] == os.path.join(root, "coco/", folder, name)
        assert os.path.isfile(r["file_name"])
        assert r["neg_category_ids"] == [i - 1 for i in img["neg_category_ids"]]
        assert r["not_exhaustive_category_ids"] == [
            i - 1 for i in img["not_exhaustive_category_ids"]
        ]
        expected = sorted(
            (a["category_id"] - 1, tuple(a["bbox"])) for a in api.img_ann_map[r["image_id"]]
        )
        got = sorted((a["category_id"], tuple(a["bbox"])) for a in r["annotations"])
        assert got == expected
        assert all(a["iscrowd"] == 0 for a in r["annotations"])
    assert folders == {"train2017", "val2017"}  # LVIS val uses images of both COCO splits


def test_cocofied_split_uses_coco_ids(root):
    json_file = write_synthetic_lvis(root, "val_5k_cocofied", num_images=4, num_classes=5)
    data = json.load(open(json_file))
    records = DatasetCatalog.get("lvis_v1_val_cocofied")
    coco_map = MetadataCatalog.get("lvis_v1_val_cocofied").thing_dataset_id_to_contiguous_id
    assert len(coco_map) == 80
    expected = sorted(coco_map[a["category_id"]] for a in data["annotations"])
    assert sorted(a["category_id"] for r in records for a in r["annotations"]) == expected


def _shipped_table():
    with open(SHIPPED_LVIS) as f:
        return sorted(json.load(f), key=lambda c: c["id"])


def test_builtin_lvis_metadata_needs_no_json(root):
    assert not os.listdir(root)  # an empty DETECTRON2_DATASETS
    table = _shipped_table()
    meta = MetadataCatalog.get("lvis_v1_train")
    assert meta.thing_classes == [c["synonyms"][0] for c in table]
    assert meta.class_image_count == [
        {"id": c["id"], "image_count": c["image_count"]} for c in table
    ]
    groups = meta.frequency_groups
    assert {k: len(v) for k, v in groups.items()} == {
        f: sum(c["frequency"] == f for c in table) for f in "rcf"
    }
    assert all(c["id"] - 1 in groups[c["frequency"]] for c in table)
    assert meta.thing_dataset_id_to_contiguous_id == {c["id"]: c["id"] - 1 for c in table}


def test_fed_loss_weights_without_train_json(root):
    from det.data.detection_utils import get_fed_loss_cls_weights

    expected = torch.tensor([c["image_count"] for c in _shipped_table()], dtype=torch.float64)
    weights = get_fed_loss_cls_weights("lvis_v1_train", 0.5)
    assert weights.shape == (1203,)
    torch.testing.assert_close(weights.double(), expected**0.5, rtol=1e-6, atol=0)


def test_missing_lvis_json_lazy_metadata_error(tmp_path):
    # A user-registered LVIS-format dataset without metadata reads its JSON lazily.
    from det.data.datasets import register_lvis_instances

    name = "_test_lvis_lazy_missing"
    register_lvis_instances(name, {}, str(tmp_path / "mine.json"), str(tmp_path))
    try:
        with pytest.raises(FileNotFoundError, match="mine.json"):
            MetadataCatalog.get(name).class_image_count  # noqa: B018
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def test_load_without_name_uses_id_minus_one(tmp_path):
    json_file = write_synthetic_lvis(str(tmp_path), "train", num_images=3, num_classes=4)
    data = json.load(open(json_file))
    records = load_lvis_json(json_file, str(tmp_path / "coco"))
    got = sorted(a["category_id"] for r in records for a in r["annotations"])
    assert got == sorted(a["category_id"] - 1 for a in data["annotations"])


def test_read_json_categories_partial_read(tmp_path, monkeypatch):
    import det.data.datasets.lvis as lvis_module

    # The full-parse fallback must not be needed.
    monkeypatch.setattr(lvis_module, "read_json", lambda *a: pytest.fail("full parse used"))
    cats = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    # A decoy key inside a string, categories placed after a large list.
    data = {
        "info": {"note": 'text with "categories": [1] inside'},
        "annotations": [{"id": i, "bbox": [0, 0, 1, 1]} for i in range(2000)],
        "categories": cats,
    }
    path = tmp_path / "x.json"
    path.write_text(json.dumps(data))
    assert read_json_categories(str(path)) == cats
    path.write_text(json.dumps({"images": [], "categories": cats}, indent=2))
    assert read_json_categories(str(path)) == cats
