"""Registration of the built-in datasets under ``$DETECTRON2_DATASETS`` (default ``./datasets``).

Done on import of ``det.data``; cheap, since no file is read until a dataset is used. Layout::

    coco/{train2017,val2017,test2017}/                       COCO images (also used by LVIS)
    coco/annotations/instances_{train,val}2017.json          coco_2017_{train,val}
    coco/annotations/image_info_test{,-dev}2017.json          coco_2017_test, coco_2017_test-dev
    coco/stuffthingmaps_detectron2/{train,val}2017/          coco_2017_{train,val}_stuff_sem_seg
    lvis/lvis_v1_{train,val}.json                            lvis_v1_{train,val}
    lvis/lvis_v1_val_5k.json, lvis_v1_val_5k_cocofied.json   lvis_v1_val_5k, lvis_v1_val_cocofied
    lvis/lvis_v1_image_info_test_{dev,challenge}.json        lvis_v1_test_{dev,challenge}
    o365/annotations/zhiyuan_objv2_{train,val}.json          objects365_{train,val}
    o365/images/patch*/                                      Objects365 images
    ADEChallengeData2016/{images,annotations}/{training,validation}/   ade20k_sem_seg_{train,val}
    coco_stuff10k/{images,annotations}/{train2014,test2014}/  coco_stuff_10k_sem_seg_{train,test}
    cityscapes/{leftImg8bit,gtFine}/{train,val}/<city>/       cityscapes_fine_sem_seg_{train,val}
    VOCdevkit/VOC2010/{JPEGImages,SegmentationClassContext}/  pascal_context_{59,60}_sem_seg_*
    synthetic/coco/...                                       synthetic_coco_{train,val} (demo,
                                                             written on first use)

To use another root in a running process (e.g. in tests), call ``register_all_builtin(root)``;
it replaces the registrations.
"""

from __future__ import annotations

import os

from ..catalog import DatasetCatalog, MetadataCatalog
from .ade20k import register_all_ade20k
from .builtin_meta import get_coco_instances_meta
from .cityscapes import register_all_cityscapes
from .coco import register_coco_instances
from .coco_stuff import register_all_coco_stuff
from .coco_stuff_10k import register_all_coco_stuff_10k
from .lvis import get_lvis_instances_meta, register_lvis_instances
from .objects365 import register_objects365_instances
from .pascal_context import register_all_pascal_context
from .paths import get_datasets_root
from .synthetic import register_synthetic_ade20k, register_synthetic_coco

__all__ = [
    "COCO_SPLITS",
    "LVIS_SPLITS",
    "OBJECTS365_SPLITS",
    "register_all_coco",
    "register_all_lvis",
    "register_all_objects365",
    "register_all_synthetic",
    "register_all_builtin",
]

COCO_SPLITS = {
    "coco_2017_train": ("coco/train2017", "coco/annotations/instances_train2017.json"),
    "coco_2017_val": ("coco/val2017", "coco/annotations/instances_val2017.json"),
    "coco_2017_test": ("coco/test2017", "coco/annotations/image_info_test2017.json"),
    "coco_2017_test-dev": ("coco/test2017", "coco/annotations/image_info_test-dev2017.json"),
}
"""Name -> (image folder, JSON), relative to the datasets root."""

LVIS_SPLITS = {
    "lvis_v1_train": ("coco/", "lvis/lvis_v1_train.json"),
    "lvis_v1_val": ("coco/", "lvis/lvis_v1_val.json"),
    "lvis_v1_val_5k": ("coco/", "lvis/lvis_v1_val_5k.json"),
    "lvis_v1_val_cocofied": ("coco/", "lvis/lvis_v1_val_5k_cocofied.json"),
    "lvis_v1_test_dev": ("coco/", "lvis/lvis_v1_image_info_test_dev.json"),
    "lvis_v1_test_challenge": ("coco/", "lvis/lvis_v1_image_info_test_challenge.json"),
}
"""Name -> (image root, JSON), relative to the datasets root. ``*cocofied`` splits carry
LVIS annotations of the 80 COCO classes and get COCO metadata."""

OBJECTS365_SPLITS = {
    "objects365_train": ("o365/images", "o365/annotations/zhiyuan_objv2_train.json"),
    "objects365_val": ("o365/images", "o365/annotations/zhiyuan_objv2_val.json"),
}
"""Name -> (image root, JSON), relative to the datasets root (EVA-02 README layout; the fork
hard-codes ``./datasets/Objects365`` instead)."""


def _replace(name: str) -> None:
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def register_all_coco(root: str) -> None:
    """Registers the COCO 2017 instance splits of ``COCO_SPLITS`` under ``root``."""
    for name, (image_root, json_file) in COCO_SPLITS.items():
        _replace(name)
        register_coco_instances(
            name,
            get_coco_instances_meta(),
            os.path.join(root, json_file),
            os.path.join(root, image_root),
        )


def register_all_lvis(root: str) -> None:
    """Registers the LVIS v1 splits of ``LVIS_SPLITS`` under ``root``."""
    for name, (image_root, json_file) in LVIS_SPLITS.items():
        _replace(name)
        # The shipped LVIS v1 table: no JSON needs to be read to build or evaluate a model.
        metadata = (
            get_coco_instances_meta() if "cocofied" in name else get_lvis_instances_meta(name)
        )
        register_lvis_instances(
            name, metadata, os.path.join(root, json_file), os.path.join(root, image_root)
        )


def register_all_objects365(root: str) -> None:
    """Registers the Objects365 v2 splits of ``OBJECTS365_SPLITS`` under ``root``."""
    for name, (image_root, json_file) in OBJECTS365_SPLITS.items():
        _replace(name)
        register_objects365_instances(
            name, os.path.join(root, json_file), os.path.join(root, image_root)
        )


def register_all_synthetic(root: str) -> None:
    """Registers the demo datasets under ``<root>/synthetic``, written on first use.

    ``synthetic_coco_{train,val}``: three COCO classes (person, car, dog; ids 1, 3, 18) drawn
    as shapes on 256x320 images, 64 training and 16 validation images.
    ``synthetic_ade20k_sem_seg_{train,val}``: ADE20K layout and metadata, 6 drawn classes on
    128x160 images, 64 training and 16 validation images.
    """
    base = os.path.join(root, "synthetic")
    register_synthetic_coco(
        "synthetic_coco_train", base, "train2017", num_images=64, image_size=(256, 320)
    )
    register_synthetic_coco(
        "synthetic_coco_val", base, "val2017", num_images=16, image_size=(256, 320)
    )
    register_synthetic_ade20k("synthetic_ade20k_sem_seg_train", base, "training", num_images=64)
    register_synthetic_ade20k("synthetic_ade20k_sem_seg_val", base, "validation", num_images=16)


def register_all_builtin(root: str | None = None) -> None:
    """(Re-)registers every built-in dataset under ``root``.

    Args:
        root: datasets root; default ``$DETECTRON2_DATASETS`` or ``./datasets``.
    """
    root = get_datasets_root() if root is None else os.path.expanduser(root)
    register_all_coco(root)
    register_all_lvis(root)
    register_all_objects365(root)
    register_all_ade20k(root)
    register_all_coco_stuff(root)
    register_all_coco_stuff_10k(root)
    register_all_cityscapes(root)
    register_all_pascal_context(root)
    register_all_synthetic(root)


register_all_builtin()
