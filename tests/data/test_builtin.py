import json
import os

import pytest

from det.data import DatasetCatalog, MetadataCatalog
from det.data.datasets import (
    DatasetNotFoundError,
    get_datasets_root,
    register_all_builtin,
    write_synthetic_ade20k,
    write_synthetic_coco,
    write_synthetic_coco_stuff,
    write_synthetic_lvis,
    write_synthetic_objects365,
)

SIZE = (48, 64)

# Built-in name -> function writing its files in the real layout under a root.
WRITERS = {
    "coco_2017_train": lambda r: write_synthetic_coco(r, "train2017", 3, SIZE),
    "coco_2017_val": lambda r: write_synthetic_coco(r, "val2017", 3, SIZE),
    "coco_2017_test": lambda r: write_synthetic_coco(r, "test2017", 2, SIZE),
    "coco_2017_test-dev": lambda r: write_synthetic_coco(r, "test-dev2017", 2, SIZE),
    "lvis_v1_train": lambda r: write_synthetic_lvis(r, "train", 3, SIZE),
    "lvis_v1_val": lambda r: write_synthetic_lvis(r, "val", 3, SIZE),
    "lvis_v1_val_5k": lambda r: write_synthetic_lvis(r, "val_5k", 3, SIZE),
    "lvis_v1_val_cocofied": lambda r: write_synthetic_lvis(r, "val_5k_cocofied", 3, SIZE),
    "lvis_v1_test_dev": lambda r: write_synthetic_lvis(r, "image_info_test_dev", 2, SIZE),
    "lvis_v1_test_challenge": lambda r: write_synthetic_lvis(
        r, "image_info_test_challenge", 2, SIZE
    ),
    "objects365_train": lambda r: write_synthetic_objects365(r, "train", 3, SIZE),
    "objects365_val": lambda r: write_synthetic_objects365(r, "val", 3, SIZE),
    "ade20k_sem_seg_train": lambda r: write_synthetic_ade20k(r, "training", 2, SIZE),
    "ade20k_sem_seg_val": lambda r: write_synthetic_ade20k(r, "validation", 2, SIZE),
    "coco_2017_train_stuff_sem_seg": lambda r: write_synthetic_coco_stuff(r, "train2017", 2, SIZE),
    "coco_2017_val_stuff_sem_seg": lambda r: write_synthetic_coco_stuff(r, "val2017", 2, SIZE),
    "synthetic_coco_train": lambda r: None,  # written on first use
    "synthetic_coco_val": lambda r: None,
}

EVALUATOR_TYPES = {
    "coco": "coco",
    "lvis": "lvis",
    "objects365": "coco",
    "ade20k": "sem_seg",
    "synthetic": "coco",
}


def test_every_builtin_name_is_registered():
    assert set(WRITERS) <= set(DatasetCatalog.list())


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_builtin_loads_from_synthetic_root(root, name):
    WRITERS[name](root)
    records = DatasetCatalog.get(name)
    assert len(records) >= 2
    for r in records:
        assert os.path.isfile(r["file_name"]) and r["file_name"].startswith(root)
        if "sem_seg_file_name" in r:
            assert os.path.isfile(r["sem_seg_file_name"])
        else:
            assert {"height", "width", "image_id", "annotations"} <= r.keys()
    meta = MetadataCatalog.get(name)
    expected_type = "sem_seg" if name.endswith("sem_seg") else EVALUATOR_TYPES[name.split("_")[0]]
    assert meta.evaluator_type == expected_type
    if expected_type == "sem_seg":
        assert meta.ignore_label == 255 and len(meta.stuff_classes) in (150, 171)
    else:
        assert os.path.isfile(meta.json_file) and os.path.isdir(meta.image_root)
        num_classes = len(meta.thing_classes)
        assert all(0 <= a["category_id"] < num_classes for r in records for a in r["annotations"])
        if not name.startswith("synthetic"):
            # LVIS v1 splits carry the shipped 1203-class table whatever their JSON holds.
            lvis = 80 if "cocofied" in name else 1203
            expected = {"coco": 80, "lvis": lvis, "objects365": 365}[name.split("_")[0]]
            assert num_classes == expected


def test_missing_root_error_names_variable_path_and_dataset(tmp_path, monkeypatch):
    original_root = get_datasets_root()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DETECTRON2_DATASETS", raising=False)
    register_all_builtin()
    try:
        with pytest.raises(DatasetNotFoundError) as e:
            DatasetCatalog.get("coco_2017_val")
        assert str(e.value).startswith(
            "Dataset 'coco_2017_val' expects datasets/coco/annotations/instances_val2017.json "
            "(set DETECTRON2_DATASETS; it is unset, so the root is 'datasets'); not found."
        )
        assert "root 'datasets' itself does not exist" in str(e.value)
    finally:
        register_all_builtin(original_root)


def test_missing_image_folder_error(root):
    write_synthetic_coco(root, "val2017", 2, SIZE)
    os.rename(os.path.join(root, "coco", "val2017"), os.path.join(root, "moved"))
    expected = os.path.join(root, "coco", "val2017")
    with pytest.raises(
        DatasetNotFoundError,
        match=f"'coco_2017_val' expects {expected} .*DETECTRON2_DATASETS; it is '{root}'",
    ):
        DatasetCatalog.get("coco_2017_val")
    with pytest.raises(
        DatasetNotFoundError, match="'ade20k_sem_seg_val' expects .*ADEChallengeData2016"
    ):
        DatasetCatalog.get("ade20k_sem_seg_val")


def test_corrupt_image_error_names_file(root):
    from det.data import detection_utils as utils

    json_file = write_synthetic_coco(root, "val2017", 2, SIZE)
    first = json.load(open(json_file))["images"][0]["file_name"]
    path = os.path.join(root, "coco", "val2017", first)
    with open(path, "wb") as f:
        f.write(b"not a jpeg")
    records = DatasetCatalog.get("coco_2017_val")  # loading reads no image
    with pytest.raises(OSError, match=first):
        utils.read_image(records[0]["file_name"], "RGB")
