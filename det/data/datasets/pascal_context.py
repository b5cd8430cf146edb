"""PASCAL-Context semantic segmentation, 60 classes (with background) and 59 (without).

Layout (mmseg's: VOC2010 plus the label PNGs its ``pascal_context.py`` converter writes from
``trainval_merged.json``)::

    $DETECTRON2_DATASETS/VOCdevkit/VOC2010/JPEGImages/<stem>.jpg
    $DETECTRON2_DATASETS/VOCdevkit/VOC2010/SegmentationClassContext/<stem>.png
    $DETECTRON2_DATASETS/VOCdevkit/VOC2010/ImageSets/SegmentationContext/{train,val}.txt

The label PNGs hold 0 for background and 1..59 for the classes. The 60-class datasets evaluate
background as class 0 (mmseg's ``PascalContextDataset``); the 59-class ones ignore it and shift
the rest down (``PascalContextDataset59``, ``reduce_zero_label=True``), which is what the
ViT-Adapter ``*_pascal_context_59`` cards report.
"""

from __future__ import annotations

import os
from functools import partial

from ..catalog import DatasetCatalog, MetadataCatalog
from .builtin_meta import distinct_colors
from .paths import require_path
from .sem_seg import load_sem_seg_pairs, read_split_list

__all__ = [
    "PASCAL_CONTEXT_59_CLASSES",
    "PASCAL_CONTEXT_SPLITS",
    "get_pascal_context_meta",
    "register_all_pascal_context",
]

PASCAL_CONTEXT_59_CLASSES = (
    "aeroplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat", "book",
    "bottle", "building", "bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth",
    "computer", "cow", "cup", "curtain", "dog", "door", "fence", "floor", "flower", "food",
    "grass", "ground", "horse", "keyboard", "light", "motorbike", "mountain", "mouse", "person",
    "plate", "platform", "pottedplant", "road", "rock", "sheep", "shelves", "sidewalk", "sign",
    "sky", "snow", "sofa", "table", "track", "train", "tree", "truck", "tvmonitor", "wall",
    "water", "window", "wood",
)  # fmt: skip
"""The 59 classes in label order (label k + 1 in the PNGs)."""

PASCAL_CONTEXT_SPLITS = {
    "pascal_context_59_sem_seg_train": (59, "train"),
    "pascal_context_59_sem_seg_val": (59, "val"),
    "pascal_context_60_sem_seg_train": (60, "train"),
    "pascal_context_60_sem_seg_val": (60, "val"),
}
"""Registered name -> (number of classes, split list name)."""

VOC_DIR = os.path.join("VOCdevkit", "VOC2010")
LABEL_DIR = "SegmentationClassContext"
SPLIT_DIR = os.path.join("ImageSets", "SegmentationContext")


def get_pascal_context_meta(num_classes: int) -> dict:
    """Metadata of PASCAL-Context with 59 or 60 classes: ``stuff_classes``, ``stuff_colors``.

    Args:
        num_classes: 59 (background ignored) or 60 (background is class 0).
    """
    if num_classes not in (59, 60):
        raise ValueError(f"PASCAL-Context has 59 or 60 classes, got num_classes={num_classes}")
    classes = list(PASCAL_CONTEXT_59_CLASSES)
    if num_classes == 60:
        classes = ["background"] + classes
    return {"stuff_classes": classes, "stuff_colors": distinct_colors(len(classes))}


def _load_split(voc_root: str, split: str, reduce: bool, dataset_name: str) -> list[dict]:
    image_dir = os.path.join(voc_root, "JPEGImages")
    gt_dir = os.path.join(voc_root, LABEL_DIR)
    require_path(image_dir, dataset_name)
    require_path(
        gt_dir,
        dataset_name,
        hint="Make it with mmsegmentation's tools/convert_datasets/pascal_context.py.",
    )
    stems = read_split_list(os.path.join(voc_root, SPLIT_DIR, f"{split}.txt"), dataset_name)
    pairs = [(os.path.join(image_dir, s + ".jpg"), os.path.join(gt_dir, s + ".png")) for s in stems]
    return load_sem_seg_pairs(pairs, reduce_zero_label=reduce, dataset_name=dataset_name)


def register_all_pascal_context(root: str) -> None:
    """Registers ``pascal_context_{59,60}_sem_seg_{train,val}`` under
    ``<root>/VOCdevkit/VOC2010``.

    Metadata: ``stuff_classes`` / ``stuff_colors`` (59 or 60), ``ignore_label=255``,
    ``evaluator_type="sem_seg"``, ``reduce_zero_label`` (True for 59), ``image_root``,
    ``sem_seg_root``. Existing registrations of these names are replaced.

    Args:
        root: the datasets root (``$DETECTRON2_DATASETS``).
    """
    voc_root = os.path.join(root, VOC_DIR)
    for name, (num_classes, split) in PASCAL_CONTEXT_SPLITS.items():
        reduce = num_classes == 59
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
        DatasetCatalog.register(name, partial(_load_split, voc_root, split, reduce, name))
        MetadataCatalog.get(name).set(
            image_root=os.path.join(voc_root, "JPEGImages"),
            sem_seg_root=os.path.join(voc_root, LABEL_DIR),
            evaluator_type="sem_seg",
            ignore_label=255,
            reduce_zero_label=reduce,
            **get_pascal_context_meta(num_classes),
        )
