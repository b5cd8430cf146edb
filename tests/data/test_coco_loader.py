import json
import logging

import numpy as np
import pycocotools.mask as mask_util
import pytest
from pycocotools.coco import COCO

from det.data import DatasetCatalog, MetadataCatalog
from det.data.datasets import (
    DatasetError,
    DatasetNotFoundError,
    convert_to_coco_dict,
    convert_to_coco_json,
    load_coco_json,
    register_coco_instances,
)
from det.structures import BoxMode

# pycocotools decode under numpy 2 warns about __array__; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

H, W = 20, 30


def _crowd_mask():
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[2:6, 3:9] = 1
    mask[10:12, 20:25] = 1
    return mask


def _uncompressed_rle(mask):
    # Independent encoder: runs of the column-major flattened mask, starting with zeros.
    flat = mask.flatten(order="F").tolist()
    counts, current, run = [], 0, 0
    for v in flat:
        if v == current:
            run += 1
        else:
            counts.append(run)
            current, run = v, 1
    counts.append(run)
    return {"size": [H, W], "counts": counts}


def _coco_json(tmp_path):
    square = [2.0, 2.0, 12.0, 2.0, 12.0, 12.0, 2.0, 12.0]  # area 100
    rle_mask = np.zeros((H, W), dtype=np.uint8, order="F")
    rle_mask[5:15, 15:25] = 1
    rle = mask_util.encode(np.asfortranarray(rle_mask))
    data = {
        "images": [
            {"id": 7, "file_name": "a.jpg", "height": H, "width": W},
            {"id": 8, "file_name": "b.jpg", "height": H, "width": W},
            {"id": 9, "file_name": "empty.jpg", "height": H, "width": W},
        ],
        "categories": [
            {"id": 18, "name": "dog"},
            {"id": 1, "name": "person"},
            {"id": 3, "name": "car"},
        ],
        "annotations": [
            {
                "id": 1,
                "image_id": 7,
                "category_id": 1,
                "bbox": [2, 2, 10, 10],
                "iscrowd": 0,
                "segmentation": [square],
                "area": 100,
            },
            {
                "id": 2,
                "image_id": 7,
                "category_id": 18,
                "bbox": [15, 5, 10, 10],
                "iscrowd": 0,
                "segmentation": {"size": [H, W], "counts": rle["counts"].decode()},
            },
            {
                "id": 3,
                "image_id": 8,
                "category_id": 3,
                "bbox": [3, 2, 22, 10],
                "iscrowd": 1,
                "segmentation": _uncompressed_rle(_crowd_mask()),
            },
            # degenerate: zero-width box
            {
                "id": 4,
                "image_id": 8,
                "category_id": 3,
                "bbox": [1, 1, 0, 5],
                "iscrowd": 0,
                "segmentation": [square],
            },
            # degenerate: only a 2-point "polygon"
            {
                "id": 5,
                "image_id": 8,
                "category_id": 1,
                "bbox": [1, 1, 4, 4],
                "iscrowd": 0,
                "segmentation": [[1.0, 1.0, 5.0, 5.0]],
            },
            # one valid and one invalid polygon: keeps the object, drops the bad polygon
            {
                "id": 6,
                "image_id": 8,
                "category_id": 1,
                "bbox": [2, 2, 10, 10],
                "iscrowd": 0,
                "segmentation": [square, [0.0, 0.0, 1.0, 1.0]],
            },
            # boxes-only annotation written with an empty segmentation list
            {
                "id": 7,
                "image_id": 8,
                "category_id": 18,
                "bbox": [0, 0, 3, 4],
                "iscrowd": 0,
                "segmentation": [],
            },
        ],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    (tmp_path / "images").mkdir()
    return str(path), str(tmp_path / "images"), data


def test_load_coco_json_formats_and_mapping(tmp_path, caplog):
    json_file, image_root, _ = _coco_json(tmp_path)
    name = "test_coco_loader_formats"
    MetadataCatalog.remove(name)
    with caplog.at_level(logging.WARNING, logger="det.data.datasets.coco"):
        records = load_coco_json(json_file, image_root, name, extra_annotation_keys=["area"])

    assert [r["image_id"] for r in records] == [7, 8, 9]
    assert records[2]["annotations"] == []  # image without annotations is kept
    assert records[0]["file_name"] == f"{image_root}/a.jpg"
    assert (records[0]["height"], records[0]["width"]) == (H, W)

    meta = MetadataCatalog.get(name)
    assert meta.thing_classes == ["person", "car", "dog"]  # sorted by id
    assert meta.thing_dataset_id_to_contiguous_id == {1: 0, 3: 1, 18: 2}

    a0, a1 = records[0]["annotations"]
    assert a0["category_id"] == 0 and a1["category_id"] == 2
    assert a0["bbox_mode"] == BoxMode.XYWH_ABS and a0["area"] == 100
    assert a0["segmentation"] == [[2.0, 2.0, 12.0, 2.0, 12.0, 12.0, 2.0, 12.0]]
    assert isinstance(a1["segmentation"]["counts"], str)

    crowd, kept, boxes_only = records[1]["annotations"]
    assert crowd["iscrowd"] == 1 and crowd["category_id"] == 1
    # uncompressed RLE becomes compressed RLE describing the same pixels
    assert isinstance(crowd["segmentation"]["counts"], str)
    np.testing.assert_array_equal(mask_util.decode(crowd["segmentation"]), _crowd_mask())
    assert kept["segmentation"] == [[2.0, 2.0, 12.0, 2.0, 12.0, 12.0, 2.0, 12.0]]
    assert "segmentation" not in boxes_only and boxes_only["bbox"] == [0, 0, 3, 4]

    text = caplog.text
    assert "Dropped 2 degenerate annotations" in text and json_file in text
    assert "1 with a box of zero width or height" in text
    assert "1 whose polygons all have fewer than 3 points" in text
    assert "Removed 1 polygons" in text


def test_without_dataset_name_keeps_json_ids(tmp_path):
    json_file, image_root, _ = _coco_json(tmp_path)
    records = load_coco_json(json_file, image_root)
    assert records[0]["annotations"][1]["category_id"] == 18


def test_annotation_with_unknown_image_names_json(tmp_path):
    json_file, image_root, data = _coco_json(tmp_path)
    data["annotations"][0]["image_id"] = 12345
    (tmp_path / "instances.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"instances\.json.*1 annotations reference image ids"):
        load_coco_json(json_file, image_root)


def test_unknown_category_and_missing_file(tmp_path):
    json_file, image_root, data = _coco_json(tmp_path)
    data["annotations"][0]["category_id"] = 99
    (tmp_path / "instances.json").write_text(json.dumps(data))
    name = "test_coco_loader_unknown_cat"
    MetadataCatalog.remove(name)
    with pytest.raises(DatasetError, match="category_id 99"):
        load_coco_json(json_file, image_root, name)
    with pytest.raises(DatasetNotFoundError, match="nope.json"):
        load_coco_json(str(tmp_path / "nope.json"), image_root)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DatasetError, match="bad.json is not valid JSON"):
        load_coco_json(str(tmp_path / "bad.json"), image_root)


def test_json_classes_must_match_registered_metadata(tmp_path):
    json_file, image_root, _ = _coco_json(tmp_path)
    name = "test_coco_loader_mismatch"
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)
    register_coco_instances(
        name, {"thing_classes": ["person", "truck", "dog"]}, json_file, image_root
    )
    with pytest.raises(DatasetError, match="JSON 'car' vs registered 'truck'"):
        DatasetCatalog.get(name)
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def test_convert_to_coco_dict_roundtrip(tmp_path):
    json_file, image_root, _ = _coco_json(tmp_path)
    name = "test_coco_loader_convert"
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)
    register_coco_instances(name, {}, json_file, image_root)
    assert MetadataCatalog.get(name).evaluator_type == "coco"
    out = tmp_path / "out" / "gt.json"
    convert_to_coco_json(name, str(out))
    coco = COCO(str(out))  # pycocotools accepts it
    assert sorted(coco.getCatIds()) == [1, 3, 18]
    assert sorted(coco.getImgIds()) == [7, 8, 9]
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[7]))
    by_cat = {a["category_id"]: a for a in anns}
    assert by_cat[1]["area"] == pytest.approx(100.0)  # shoelace area of the 10x10 square
    assert by_cat[18]["area"] == pytest.approx(100.0)  # pixel count of the RLE
    assert by_cat[1]["bbox"] == [2, 2, 10, 10]
    crowd = coco.loadAnns(coco.getAnnIds(imgIds=[8], iscrowd=True))
    assert len(crowd) == 1 and crowd[0]["area"] == float(_crowd_mask().sum())
    np.testing.assert_array_equal(coco.annToMask(crowd[0]), _crowd_mask())
    boxes_only = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=[8])) if a["category_id"] == 18]
    assert boxes_only[0]["area"] == 12.0
    d = convert_to_coco_dict(name)
    assert len(d["annotations"]) == 5
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)
