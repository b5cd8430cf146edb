import json
import os

import numpy as np
import pycocotools.mask as mask_util
import pytest
from PIL import Image
from pycocotools.coco import COCO

from det.data import DatasetCatalog, MetadataCatalog
from det.data.datasets import (
    COCO_CATEGORIES,
    DEMO_CATEGORIES,
    register_synthetic_coco,
    write_synthetic_coco,
    write_synthetic_datasets,
)
from det.data.datasets.synthetic_scenes import mask_to_uncompressed_rle

# pycocotools decode under numpy 2 warns about __array__; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _tree(root):
    files = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            path = os.path.join(dirpath, n)
            files[os.path.relpath(path, root)] = open(path, "rb").read()
    return files


def test_deterministic_given_seed(tmp_path):
    a, b, c = (str(tmp_path / x) for x in "abc")
    write_synthetic_datasets(a, image_size=(48, 64), seed=3)
    write_synthetic_datasets(b, image_size=(48, 64), seed=3)
    files_a, files_b = _tree(a), _tree(b)
    assert files_a.keys() == files_b.keys() and len(files_a) > 50
    assert all(files_a[k] == files_b[k] for k in files_a)
    write_synthetic_coco(c, "val2017", num_images=6, image_size=(48, 64), seed=4)
    assert (
        _tree(c)["coco/annotations/instances_val2017.json"]
        != files_a["coco/annotations/instances_val2017.json"]
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_uncompressed_rle_matches_pycocotools(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((7, 5)) > 0.5
    mask[0, 0] = bool(seed)  # both a leading run of zeros and of ones
    rle = mask_to_uncompressed_rle(mask)
    assert sum(rle["counts"]) == mask.size
    decoded = mask_util.decode(mask_util.frPyObjects(rle, *rle["size"]))
    np.testing.assert_array_equal(decoded, mask)


def test_coco_content(tmp_path):
    json_file = write_synthetic_coco(str(tmp_path), "train2017", num_images=12, num_classes=3)
    coco = COCO(json_file)
    assert len(coco.dataset["categories"]) == 80  # the real files list all categories
    anns = coco.dataset["annotations"]
    kinds = {"polygon", "rle", "crowd"}
    seen = set()
    colors = {c["id"]: np.array(c["color"]) for c in COCO_CATEGORIES}
    for a in anns:
        assert a["category_id"] in (1, 2, 3)
        segm = a["segmentation"]
        kind = "polygon" if isinstance(segm, list) else "crowd" if a["iscrowd"] else "rle"
        seen.add(kind)
        if kind == "crowd":
            assert isinstance(segm["counts"], list)
        img = coco.imgs[a["image_id"]]
        image = np.asarray(Image.open(tmp_path / "coco" / "train2017" / img["file_name"]))
        mask = coco.annToMask(a).astype(bool)
        assert mask.sum() > 0
        x, y, w, h = a["bbox"]
        ys, xs = np.nonzero(mask)
        assert x <= xs.min() + 1 and xs.max() <= x + w and y <= ys.min() + 1 and ys.max() <= y + h
        # the class is recognizable from its color
        assert np.abs(image[mask].mean(0) - colors[a["category_id"]]).max() < 30
    assert seen == kinds
    with_objects = {a["image_id"] for a in anns}
    assert len(with_objects) < len(coco.imgs)  # some images have no objects


def test_register_synthetic_coco_writes_on_first_use(tmp_path):
    name = "test_synthetic_demo"
    root = str(tmp_path / "demo")
    register_synthetic_coco(name, root, "val2017", num_images=5, image_size=(64, 80))
    assert not os.path.exists(root)  # registration writes nothing
    meta = MetadataCatalog.get(name)
    assert meta.thing_classes == ["person", "car", "dog"]
    assert meta.thing_dataset_id_to_contiguous_id == {1: 0, 3: 1, 18: 2}
    json_file = meta.json_file  # what an evaluator reads first
    assert os.path.isfile(json_file)
    mtime = os.path.getmtime(json_file)
    records = DatasetCatalog.get(name)
    assert len(records) == 5
    assert {a["category_id"] for r in records for a in r["annotations"]} <= {0, 1, 2}
    register_synthetic_coco(name, root, "val2017", num_images=5, image_size=(64, 80))
    assert DatasetCatalog.get(name) == records
    assert os.path.getmtime(json_file) == mtime  # reused, not rewritten
    assert json.load(open(json_file))["categories"] == [
        {"supercategory": "object", "id": c["id"], "name": c["name"]} for c in DEMO_CATEGORIES
    ]
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)
