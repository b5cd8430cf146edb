import json
import os

import pytest

from det.data import DatasetCatalog, MetadataCatalog
from det.data.datasets import (
    OBJECTS365_CLASS_NAMES,
    DatasetError,
    DatasetNotFoundError,
    write_synthetic_objects365,
)


def test_official_names():
    assert len(OBJECTS365_CLASS_NAMES) == 365 and len(set(OBJECTS365_CLASS_NAMES)) == 365
    # spellings of the official JSON, typos and trailing spaces included (spec 1.6)
    assert OBJECTS365_CLASS_NAMES[0] == "Person"
    assert OBJECTS365_CLASS_NAMES[52] == "Bakset"
    assert OBJECTS365_CLASS_NAMES[37] == "Moniter/TV"
    assert OBJECTS365_CLASS_NAMES[196] == "Cigar/Cigarette "
    assert OBJECTS365_CLASS_NAMES[308] == "Formula 1 "
    assert OBJECTS365_CLASS_NAMES[364] == "Table Tennis "
    assert [n for n in OBJECTS365_CLASS_NAMES if n != n.rstrip()] == [
        "Cigar/Cigarette ",
        "Formula 1 ",
        "Table Tennis ",
    ]


def test_names_come_from_the_shipped_table():
    path = os.path.join(
        os.path.dirname(__file__),
        "..",
        "..",
        "det",
        "data",
        "datasets",
        "metadata",
        "objects365_v2_categories.json",
    )
    with open(path) as f:
        table = sorted(json.load(f), key=lambda c: c["id"])
    assert [c["id"] for c in table] == list(range(1, 366))
    assert OBJECTS365_CLASS_NAMES == [c["name"] for c in table]
    assert MetadataCatalog.get("objects365_val").thing_classes == OBJECTS365_CLASS_NAMES


@pytest.mark.parametrize("strip, json_layout", [(False, False), (True, True)])
def test_objects365_val_loads(root, strip, json_layout):
    json_file = write_synthetic_objects365(
        root, "val", num_images=5, strip_trailing_spaces=strip, json_path_layout=json_layout
    )
    data = json.load(open(json_file))
    assert json_file == os.path.join(root, "o365", "annotations", "zhiyuan_objv2_val.json")
    records = DatasetCatalog.get("objects365_val")
    assert len(records) == 5
    for r in records:
        assert os.path.isfile(r["file_name"])
        assert r["file_name"].startswith(os.path.join(root, "o365", "images") + os.sep)
    got = sorted((a["category_id"], tuple(a["bbox"])) for r in records for a in r["annotations"])
    expected = sorted((a["category_id"] - 1, tuple(a["bbox"])) for a in data["annotations"])
    assert got == expected
    meta = MetadataCatalog.get("objects365_val")
    assert meta.thing_classes == OBJECTS365_CLASS_NAMES  # official spelling kept
    assert meta.thing_dataset_id_to_contiguous_id[365] == 364
    assert meta.evaluator_type == "coco"


def test_wrong_category_name_is_a_clear_error(root):
    json_file = write_synthetic_objects365(root, "train", num_images=2)
    data = json.load(open(json_file))
    data["categories"][37]["name"] = "Monitor/TV"
    json.dump(data, open(json_file, "w"))
    with pytest.raises(
        DatasetError,
        match=r"zhiyuan_objv2_train\.json.*id 38: JSON has 'Monitor/TV', expected 'Moniter/TV'",
    ):
        DatasetCatalog.get("objects365_train")


def test_missing_images_and_known_missing_list(root):
    json_file = write_synthetic_objects365(root, "train", num_images=3)
    data = json.load(open(json_file))
    data["images"].append(
        {
            "id": 908726,
            "file_name": "images/v2/patch16/objects365_v2_00908726.jpg",
            "height": 10,
            "width": 10,
        }
    )
    json.dump(data, open(json_file, "w"))
    records = DatasetCatalog.get("objects365_train")
    assert len(records) == 3  # the image absent from the official archives is skipped

    for name in os.listdir(os.path.join(root, "o365", "images")):
        os.rename(os.path.join(root, "o365", "images", name), os.path.join(root, name))
    with pytest.raises(DatasetNotFoundError, match="objects365_train.*images/patchN"):
        DatasetCatalog.get("objects365_train")
