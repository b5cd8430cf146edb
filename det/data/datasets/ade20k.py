"""ADE20K SceneParsing (150 classes) semantic segmentation registration.

Layout (the official ``ADEChallengeData2016.zip`` unpacked)::

    $DETECTRON2_DATASETS/ADEChallengeData2016/images/{training,validation}/ADE_*.jpg
    $DETECTRON2_DATASETS/ADEChallengeData2016/annotations/{training,validation}/ADE_*.png

The raw annotation PNGs hold 0 for "other" and 1..150 for the classes. Instead of requiring a
converted copy (detectron2's ``annotations_detectron2``), records carry
``reduce_zero_label=True`` and readers map 0 -> 255 (ignore), k -> k - 1, exactly what mmseg's
``reduce_zero_label`` and detectron2's preparation script do (see ``read_sem_seg_gt``).
"""

from __future__ import annotations

import os

from ..catalog import DatasetCatalog, MetadataCatalog
from .builtin_meta import get_ade20k_sem_seg_meta
from .sem_seg import register_sem_seg

__all__ = ["ADE20K_SPLITS", "register_all_ade20k"]

ADE20K_SPLITS = {
    "ade20k_sem_seg_train": "training",
    "ade20k_sem_seg_val": "validation",
}
"""Registered name -> split folder under ``images/`` and ``annotations/``."""


def register_all_ade20k(root: str) -> None:
    """Registers ``ade20k_sem_seg_{train,val}`` under ``<root>/ADEChallengeData2016``.

    Existing registrations of these names are replaced.

    Args:
        root: the datasets root (``$DETECTRON2_DATASETS``).
    """
    base = os.path.join(root, "ADEChallengeData2016")
    for name, split in ADE20K_SPLITS.items():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
        register_sem_seg(
            name,
            get_ade20k_sem_seg_meta(),
            gt_root=os.path.join(base, "annotations", split),
            image_root=os.path.join(base, "images", split),
            gt_ext="png",
            image_ext="jpg",
            reduce_zero_label=True,
        )
