"""Dataset loaders, registrations of the built-in datasets, and synthetic dataset writers.

Importing this package registers the built-in datasets under ``$DETECTRON2_DATASETS``.
"""

from . import builtin as _builtin  # noqa: F401  (registers the built-in datasets)
from .ade20k import register_all_ade20k
from .builtin import register_all_builtin
from .builtin_meta import (
    ADE20K_SEM_SEG_CATEGORIES,
    COCO_CATEGORIES,
    COCO_STUFF_CATEGORIES,
    OBJECTS365_CLASS_NAMES,
)
from .cityscapes import prepare_cityscapes_train_ids, register_all_cityscapes
from .coco import (
    convert_to_coco_dict,
    convert_to_coco_json,
    load_coco_json,
    register_coco_instances,
)
from .coco_stuff import prepare_coco_stuff_sem_seg, register_all_coco_stuff
from .coco_stuff_10k import register_all_coco_stuff_10k
from .lvis import load_lvis_json, register_lvis_instances
from .objects365 import load_objects365_json, register_objects365_instances
from .pascal_context import register_all_pascal_context
from .paths import DatasetError, DatasetNotFoundError, get_datasets_root
from .sem_seg import load_sem_seg, read_sem_seg_gt, reduce_zero_label, register_sem_seg
from .synthetic import (
    DEMO_CATEGORIES,
    register_synthetic_coco,
    write_synthetic_ade20k,
    write_synthetic_coco,
    write_synthetic_coco_stuff,
    write_synthetic_datasets,
    write_synthetic_lvis,
    write_synthetic_objects365,
)

__all__ = [
    "ADE20K_SEM_SEG_CATEGORIES",
    "COCO_CATEGORIES",
    "COCO_STUFF_CATEGORIES",
    "DEMO_CATEGORIES",
    "DatasetError",
    "DatasetNotFoundError",
    "OBJECTS365_CLASS_NAMES",
    "convert_to_coco_dict",
    "convert_to_coco_json",
    "get_datasets_root",
    "load_coco_json",
    "load_lvis_json",
    "load_objects365_json",
    "load_sem_seg",
    "prepare_cityscapes_train_ids",
    "prepare_coco_stuff_sem_seg",
    "read_sem_seg_gt",
    "reduce_zero_label",
    "register_all_ade20k",
    "register_all_builtin",
    "register_all_cityscapes",
    "register_all_coco_stuff",
    "register_all_coco_stuff_10k",
    "register_all_pascal_context",
    "register_coco_instances",
    "register_lvis_instances",
    "register_objects365_instances",
    "register_sem_seg",
    "register_synthetic_coco",
    "write_synthetic_ade20k",
    "write_synthetic_coco",
    "write_synthetic_coco_stuff",
    "write_synthetic_datasets",
    "write_synthetic_lvis",
    "write_synthetic_objects365",
]
