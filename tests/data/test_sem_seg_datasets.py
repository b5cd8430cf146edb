import os

import numpy as np
import pytest
from PIL import Image

from det.data import DatasetCatalog, MetadataCatalog
from det.data.datasets import (
    DatasetNotFoundError,
    load_sem_seg,
    read_sem_seg_gt,
    reduce_zero_label,
    write_synthetic_ade20k,
    write_synthetic_coco_stuff,
)
from det.data.datasets.coco_stuff import coco_stuff_label_lut

UNUSED_COCO_STUFF_IDS = {12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91}


def test_reduce_zero_label_hand_case():
    raw = np.array([[0, 1, 150], [255, 2, 0]], dtype=np.uint8)
    expected = np.array([[255, 0, 149], [255, 1, 255]], dtype=np.uint8)
    np.testing.assert_array_equal(reduce_zero_label(raw), expected)


@pytest.mark.parametrize(
    "split, name", [("training", "ade20k_sem_seg_train"), ("validation", "ade20k_sem_seg_val")]
)
def test_ade20k_from_synthetic_root(root, split, name):
    write_synthetic_ade20k(root, split, num_images=3, num_classes=5)
    records = DatasetCatalog.get(name)
    assert len(records) == 3
    base = os.path.join(root, "ADEChallengeData2016")
    for r in records:
        assert r["file_name"].startswith(os.path.join(base, "images", split))
        assert r["sem_seg_file_name"].startswith(os.path.join(base, "annotations", split))
        assert r["reduce_zero_label"] is True
        raw = np.array(Image.open(r["sem_seg_file_name"]))
        label = read_sem_seg_gt(r["sem_seg_file_name"], r["reduce_zero_label"])
        np.testing.assert_array_equal(label, np.where(raw == 0, 255, raw.astype(int) - 1))
        assert (raw == 0).any() and set(np.unique(label)) <= set(range(150)) | {255}
        assert Image.open(r["file_name"]).size == label.shape[::-1]
    meta = MetadataCatalog.get(name)
    assert len(meta.stuff_classes) == 150 and meta.stuff_classes[0] == "wall"
    assert meta.ignore_label == 255 and meta.evaluator_type == "sem_seg"
    assert meta.reduce_zero_label is True


def test_coco_stuff_lut_matches_spec():
    lut = coco_stuff_label_lut()
    used = [i for i in range(1, 183) if i not in UNUSED_COCO_STUFF_IDS]
    assert len(used) == 171
    for contiguous, dataset_id in enumerate(used):
        assert lut[dataset_id - 1] == contiguous
    # pairs from the spec (raw PNG value -> contiguous id)
    for raw, trid in [
        (0, 0),
        (10, 10),
        (12, 11),
        (24, 23),
        (26, 24),
        (27, 25),
        (30, 26),
        (43, 39),
        (45, 40),
        (64, 59),
        (66, 60),
        (69, 61),
        (71, 62),
        (81, 72),
        (83, 73),
        (89, 79),
        (91, 80),
        (92, 81),
        (181, 170),
        (255, 255),
    ]:
        assert lut[raw] == trid, raw


def test_coco_stuff_from_synthetic_root(root):
    write_synthetic_coco_stuff(root, "val2017", num_images=3, num_classes=8)
    records = DatasetCatalog.get("coco_2017_val_stuff_sem_seg")
    assert len(records) == 3
    lut = coco_stuff_label_lut()
    for r in records:
        assert "reduce_zero_label" not in r
        stem = os.path.basename(r["sem_seg_file_name"])
        raw = np.array(
            Image.open(os.path.join(root, "coco", "stuffthingmaps_trainval2017", "val2017", stem))
        )
        label = read_sem_seg_gt(r["sem_seg_file_name"])
        np.testing.assert_array_equal(label, lut[raw])
        assert (label == 255).any() and (label < 171).any()
    meta = MetadataCatalog.get("coco_2017_val_stuff_sem_seg")
    assert len(meta.stuff_classes) == 171 and meta.stuff_classes[80] == "banner"
    assert meta.stuff_dataset_id_to_contiguous_id[92] == 80


def test_coco_stuff_missing_labels_says_how_to_make_them(root):
    os.makedirs(os.path.join(root, "coco", "train2017"))
    with pytest.raises(
        DatasetNotFoundError,
        match="stuffthingmaps_detectron2.*python -m det.data.datasets.coco_stuff",
    ):
        DatasetCatalog.get("coco_2017_train_stuff_sem_seg")


def test_load_sem_seg_pairs_by_suffix(tmp_path):
    img_dir, gt_dir = tmp_path / "img", tmp_path / "gt"
    img_dir.mkdir()
    gt_dir.mkdir()
    for stem in ["000000000002", "000000000001", "000000000003"]:
        Image.new("RGB", (4, 3)).save(img_dir / f"{stem}.jpg")
    for stem in ["000000000001", "000000000002"]:
        Image.new("L", (4, 3)).save(gt_dir / f"{stem}_labelTrainIds.png")
    records = load_sem_seg(str(gt_dir), str(img_dir), gt_ext="_labelTrainIds.png", image_ext=".jpg")
    assert [os.path.basename(r["file_name"]) for r in records] == [
        "000000000001.jpg",
        "000000000002.jpg",
    ]
    assert records[1]["sem_seg_file_name"].endswith("000000000002_labelTrainIds.png")
