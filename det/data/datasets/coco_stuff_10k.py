"""COCO-Stuff-10K semantic segmentation (171 classes, mmseg's layout).

Layout (what mmseg's ``tools/convert_datasets/coco_stuff10k.py`` writes from the official
``cocostuff-10k-v1.1.zip``)::

    $DETECTRON2_DATASETS/coco_stuff10k/images/{train2014,test2014}/<stem>.jpg
    $DETECTRON2_DATASETS/coco_stuff10k/annotations/{train2014,test2014}/<stem>_labelTrainIds.png

The converter stores 0 for "unlabeled" and 1..171 for the classes (the COCO-Stuff ids with the
11 unused thing ids skipped, in increasing order), so the datasets carry
``reduce_zero_label=True`` as mmseg's 10K config does; after it the ids are exactly those of
COCO-Stuff-164K (``get_coco_stuff_meta``). Some converter versions name the test labels
``<stem>.png``; both names are accepted.
"""

from __future__ import annotations

import os
from functools import partial

from ..catalog import DatasetCatalog, MetadataCatalog
from .builtin_meta import get_coco_stuff_meta
from .paths import require_path
from .sem_seg import load_sem_seg_pairs

__all__ = ["COCO_STUFF_10K_SPLITS", "register_all_coco_stuff_10k"]

COCO_STUFF_10K_SPLITS = {
    "coco_stuff_10k_sem_seg_train": "train2014",
    "coco_stuff_10k_sem_seg_test": "test2014",
}
"""Registered name -> split folder (10K has 9,000 train and 1,000 test images)."""

LABEL_SUFFIX = "_labelTrainIds.png"


def _label_file(gt_dir: str, stem: str) -> str:
    path = os.path.join(gt_dir, stem + LABEL_SUFFIX)
    alternative = os.path.join(gt_dir, stem + ".png")
    return alternative if not os.path.isfile(path) and os.path.isfile(alternative) else path


def _load_split(base: str, split: str, dataset_name: str) -> list[dict]:
    image_dir = os.path.join(base, "images", split)
    gt_dir = os.path.join(base, "annotations", split)
    require_path(image_dir, dataset_name)
    require_path(
        gt_dir,
        dataset_name,
        hint="Make it with mmsegmentation's tools/convert_datasets/coco_stuff10k.py.",
    )
    stems = sorted(n[: -len(".jpg")] for n in os.listdir(image_dir) if n.endswith(".jpg"))
    pairs = [(os.path.join(image_dir, s + ".jpg"), _label_file(gt_dir, s)) for s in stems]
    return load_sem_seg_pairs(pairs, reduce_zero_label=True, dataset_name=dataset_name)


def register_all_coco_stuff_10k(root: str) -> None:
    """Registers ``coco_stuff_10k_sem_seg_{train,test}`` under ``<root>/coco_stuff10k``.

    Metadata: COCO-Stuff-164K's (171 ``stuff_classes``, ``stuff_colors``,
    ``stuff_dataset_id_to_contiguous_id``), ``ignore_label=255``,
    ``evaluator_type="sem_seg"``, ``reduce_zero_label=True``, ``image_root``, ``sem_seg_root``.
    Existing registrations of these names are replaced.

    Args:
        root: the datasets root (``$DETECTRON2_DATASETS``).
    """
    base = os.path.join(root, "coco_stuff10k")
    for name, split in COCO_STUFF_10K_SPLITS.items():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
        DatasetCatalog.register(name, partial(_load_split, base, split, name))
        MetadataCatalog.get(name).set(
            image_root=os.path.join(base, "images", split),
            sem_seg_root=os.path.join(base, "annotations", split),
            evaluator_type="sem_seg",
            ignore_label=255,
            reduce_zero_label=True,
            **get_coco_stuff_meta(),
        )
