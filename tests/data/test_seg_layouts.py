"""Cityscapes, PASCAL-Context and COCO-Stuff-10K: registration, layouts and label conventions."""

import os

import numpy as np
import pytest
from PIL import Image

from det.data import DatasetCatalog, MetadataCatalog
from det.data.datasets import DatasetError, DatasetNotFoundError, read_sem_seg_gt
from det.data.datasets.cityscapes import cityscapes_train_id_lut, prepare_cityscapes_train_ids
from det.data.datasets.synthetic import (
    write_synthetic_cityscapes,
    write_synthetic_coco_stuff_10k,
    write_synthetic_pascal_context,
)

# cityscapesscripts.helpers.labels, written out: (name, id, trainId) of every label.
CITYSCAPES_LABELS = [
    ("unlabeled", 0, 255), ("ego vehicle", 1, 255), ("rectification border", 2, 255),
    ("out of roi", 3, 255), ("static", 4, 255), ("dynamic", 5, 255), ("ground", 6, 255),
    ("road", 7, 0), ("sidewalk", 8, 1), ("parking", 9, 255), ("rail track", 10, 255),
    ("building", 11, 2), ("wall", 12, 3), ("fence", 13, 4), ("guard rail", 14, 255),
    ("bridge", 15, 255), ("tunnel", 16, 255), ("pole", 17, 5), ("polegroup", 18, 255),
    ("traffic light", 19, 6), ("traffic sign", 20, 7), ("vegetation", 21, 8),
    ("terrain", 22, 9), ("sky", 23, 10), ("person", 24, 11), ("rider", 25, 12), ("car", 26, 13),
    ("truck", 27, 14), ("bus", 28, 15), ("caravan", 29, 255), ("trailer", 30, 255),
    ("train", 31, 16), ("motorcycle", 32, 17), ("bicycle", 33, 18),
]  # fmt: skip


def test_cityscapes_lut_matches_the_official_table():
    lut = cityscapes_train_id_lut()
    for _, label_id, train_id in CITYSCAPES_LABELS:
        assert lut[label_id] == train_id
    assert (lut[34:] == 255).all()
    names = MetadataCatalog.get("cityscapes_fine_sem_seg_val").stuff_classes
    assert names == [n for n, _, t in sorted(CITYSCAPES_LABELS, key=lambda x: x[2]) if t != 255]


def test_cityscapes_from_synthetic_root(root):
    write_synthetic_cityscapes(root, "val", num_images=4, num_classes=5)
    records = DatasetCatalog.get("cityscapes_fine_sem_seg_val")
    assert len(records) == 4
    assert {os.path.basename(os.path.dirname(r["file_name"])) for r in records} == {
        "aachen",
        "bremen",
    }
    id_to_train = {i: t for _, i, t in CITYSCAPES_LABELS}
    for r in records:
        assert r["file_name"].endswith("_leftImg8bit.png")
        assert r["sem_seg_file_name"].endswith("_gtFine_labelTrainIds.png")
        raw_file = r["sem_seg_file_name"].replace("_labelTrainIds.png", "_labelIds.png")
        raw = np.asarray(Image.open(raw_file))
        label = read_sem_seg_gt(r["sem_seg_file_name"], r.get("reduce_zero_label", False))
        expected = np.vectorize(id_to_train.get)(raw)
        np.testing.assert_array_equal(label, expected)
        assert (label == 255).any() and (label < 19).any()
        assert Image.open(r["file_name"]).size == label.shape[::-1]
    meta = MetadataCatalog.get("cityscapes_fine_sem_seg_val")
    assert meta.ignore_label == 255 and meta.evaluator_type == "sem_seg"
    assert not meta.reduce_zero_label and len(meta.stuff_colors) == 19


def test_cityscapes_conversion_resumes_and_missing_labels_say_how(root):
    base = write_synthetic_cityscapes(root, "train", num_images=2)
    assert prepare_cityscapes_train_ids(base, ("train",)) == 0  # all converted already
    converted = [
        os.path.join(d, n)
        for d, _, names in os.walk(os.path.join(base, "gtFine"))
        for n in names
        if n.endswith("_labelTrainIds.png")
    ]
    os.remove(converted[0])
    with pytest.raises(DatasetError, match="python -m det.data.datasets.cityscapes"):
        DatasetCatalog.get("cityscapes_fine_sem_seg_train")
    assert prepare_cityscapes_train_ids(base, ("train",)) == 1
    assert len(DatasetCatalog.get("cityscapes_fine_sem_seg_train")) == 2


@pytest.mark.parametrize("num_classes", [59, 60])
def test_pascal_context_59_and_60(root, num_classes):
    write_synthetic_pascal_context(root, "val", num_images=3, num_classes=4)
    name = f"pascal_context_{num_classes}_sem_seg_val"
    records = DatasetCatalog.get(name)
    assert len(records) == 3
    meta = MetadataCatalog.get(name)
    assert len(meta.stuff_classes) == num_classes
    assert (meta.stuff_classes[0] == "background") == (num_classes == 60)
    assert meta.stuff_classes[-1] == "wood"
    for r in records:
        raw = np.asarray(Image.open(r["sem_seg_file_name"])).astype(int)
        label = read_sem_seg_gt(r["sem_seg_file_name"], r.get("reduce_zero_label", False))
        if num_classes == 60:
            np.testing.assert_array_equal(label, raw)  # background is class 0
        else:
            np.testing.assert_array_equal(label, np.where(raw == 0, 255, raw - 1))
        assert (raw == 0).any()


def test_pascal_context_split_list_decides_the_images(root):
    base = write_synthetic_pascal_context(root, "train", num_images=3)
    split_file = os.path.join(base, "ImageSets", "SegmentationContext", "train.txt")
    stems = open(split_file).read().split()
    with open(split_file, "w") as f:
        f.write(f"{stems[2]}\n\n{stems[0]}\n")
    records = DatasetCatalog.get("pascal_context_59_sem_seg_train")
    assert [os.path.basename(r["file_name"]) for r in records] == [
        stems[2] + ".jpg",
        stems[0] + ".jpg",
    ]
    with open(split_file, "a") as f:
        f.write("2008_999999\n")
    with pytest.raises(DatasetError, match="2008_999999"):
        DatasetCatalog.get("pascal_context_59_sem_seg_train")


def test_coco_stuff_10k_labels_and_both_test_label_names(root):
    base = write_synthetic_coco_stuff_10k(root, "test2014", num_images=3, num_classes=6)
    # Some versions of mmseg's converter name the test labels <stem>.png.
    gt_dir = os.path.join(base, "annotations", "test2014")
    first = sorted(os.listdir(gt_dir))[0]
    os.replace(
        os.path.join(gt_dir, first), os.path.join(gt_dir, first.replace("_labelTrainIds", ""))
    )
    records = DatasetCatalog.get("coco_stuff_10k_sem_seg_test")
    assert len(records) == 3
    meta = MetadataCatalog.get("coco_stuff_10k_sem_seg_test")
    assert len(meta.stuff_classes) == 171 and meta.reduce_zero_label is True
    for r in records:
        raw = np.asarray(Image.open(r["sem_seg_file_name"])).astype(int)
        label = read_sem_seg_gt(r["sem_seg_file_name"], r["reduce_zero_label"])
        np.testing.assert_array_equal(label, np.where(raw == 0, 255, raw - 1))
        assert label[label != 255].max() < 171


@pytest.mark.parametrize(
    "name, missing",
    [
        ("cityscapes_fine_sem_seg_val", "cityscapes/leftImg8bit/val"),
        ("pascal_context_59_sem_seg_val", "VOCdevkit/VOC2010/JPEGImages"),
        ("coco_stuff_10k_sem_seg_train", "coco_stuff10k/images/train2014"),
    ],
)
def test_missing_split_names_path_and_env(root, name, missing):
    with pytest.raises(DatasetNotFoundError) as e:
        DatasetCatalog.get(name)
    assert missing in str(e.value) and "DETECTRON2_DATASETS" in str(e.value)
