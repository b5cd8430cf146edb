import json
import os
from collections import defaultdict

import pytest
from lvis import LVIS

from det.data import DatasetCatalog, MetadataCatalog
from det.data.datasets import (
    load_lvis_json,
    write_synthetic_lvis,
)
from det.data.datasets.lvis import read_json_categories


def test_lvis_val_from_synthetic_root(root):
    json_file = write_synthetic_lvis(root, "val", num_images=9, num_classes=6)
    api = LVIS(json_file)  # the official API reads our layout

    # Metadata is available before the dataset is loaded (lazy read of the categories).
    meta = MetadataCatalog.get("lvis_v1_val")
    assert meta.evaluator_type == "lvis"
    cats = sorted(api.dataset["categories"], key=lambda c: c["id"])
    assert meta.thing_classes == [c["synonyms"][0] for c in cats]
    images_per_cat = defaultdict(set)
    for a in api.dataset["annotations"]:
        images_per_cat[a["category_id"]].add(a["image_id"])
    assert meta.class_image_count == [
        {"id": c["id"], "image_count": len(images_per_cat[c["id"]])} for c in cats
    ]
    groups = meta.frequency_groups
    for c in cats:
        assert c["id"] - 1 in groups[c["frequency"]]

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


def test_missing_lvis_json_lazy_metadata_error(root):
    meta = MetadataCatalog.get("lvis_v1_train")
    with pytest.raises(FileNotFoundError, match="lvis_v1_train.json.*DETECTRON2_DATASETS"):
        meta.class_image_count  # noqa: B018


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
