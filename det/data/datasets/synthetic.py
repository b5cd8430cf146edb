"""Small synthetic datasets written in the exact on-disk layouts of the built-in datasets.

Nothing can be downloaded in tests, so these writers produce tiny versions of COCO, LVIS,
Objects365, ADE20K, COCO-Stuff (164K and 10K), Cityscapes and PASCAL-Context under a root
folder, with the real folder names, file names and JSON/PNG formats. Pointing
``DETECTRON2_DATASETS`` at that root (and calling ``register_all_builtin(root)``) makes the real
registration and loading code read them.

Images show shapes whose shape and color depend on the class (see ``synthetic_scenes``), so
tiny models can learn them. Instance datasets contain polygon masks, compressed RLE masks,
crowd regions (uncompressed RLE, ``iscrowd=1``) and images without objects. Output is a pure
function of the arguments: the same call writes byte-identical files.

``register_synthetic_coco`` registers a COCO-format demo dataset with its own small category
list that is written on first use.

The writers live in ``synthetic_instances`` (COCO, LVIS, Objects365), ``synthetic_sem_seg``
(ADE20K, COCO-Stuff-164K) and ``synthetic_seg_layouts`` (Cityscapes, PASCAL-Context,
COCO-Stuff-10K); this module re-exports them and writes all of them at once.
"""

from __future__ import annotations

from .synthetic_instances import (
    DEMO_CATEGORIES,
    register_synthetic_coco,
    write_synthetic_coco,
    write_synthetic_lvis,
    write_synthetic_objects365,
)
from .synthetic_seg_layouts import (
    write_synthetic_cityscapes,
    write_synthetic_coco_stuff_10k,
    write_synthetic_pascal_context,
)
from .synthetic_sem_seg import (
    register_synthetic_ade20k,
    write_synthetic_ade20k,
    write_synthetic_coco_stuff,
)

__all__ = [
    "DEMO_CATEGORIES",
    "write_synthetic_coco",
    "write_synthetic_lvis",
    "write_synthetic_objects365",
    "register_synthetic_ade20k",
    "write_synthetic_ade20k",
    "write_synthetic_coco_stuff",
    "write_synthetic_cityscapes",
    "write_synthetic_coco_stuff_10k",
    "write_synthetic_pascal_context",
    "write_synthetic_datasets",
    "register_synthetic_coco",
]


def write_synthetic_datasets(
    root: str, image_size: tuple[int, int] = (96, 128), seed: int = 0
) -> list[str]:
    """Writes train and val splits of every built-in dataset (a few images each) under ``root``.

    Args:
        root: dataset root.
        image_size: (H, W) of every image.
        seed: random seed.

    Returns:
        the built-in dataset names whose files now exist under ``root``.
    """
    for split in ("train2017", "val2017"):
        write_synthetic_coco(root, split, num_images=6, image_size=image_size, seed=seed)
        write_synthetic_coco_stuff(root, split, num_images=3, image_size=image_size, seed=seed)
    for split in ("train", "val"):
        write_synthetic_lvis(root, split, num_images=6, image_size=image_size, seed=seed)
        write_synthetic_objects365(root, split, num_images=4, image_size=image_size, seed=seed)
    for split in ("training", "validation"):
        write_synthetic_ade20k(root, split, num_images=3, image_size=image_size, seed=seed)
    for split in ("train", "val"):
        write_synthetic_cityscapes(root, split, num_images=3, image_size=image_size, seed=seed)
        write_synthetic_pascal_context(root, split, num_images=3, image_size=image_size, seed=seed)
    for split in ("train2014", "test2014"):
        write_synthetic_coco_stuff_10k(root, split, num_images=3, image_size=image_size, seed=seed)
    return [
        "coco_2017_train",
        "coco_2017_val",
        "lvis_v1_train",
        "lvis_v1_val",
        "objects365_train",
        "objects365_val",
        "ade20k_sem_seg_train",
        "ade20k_sem_seg_val",
        "coco_2017_train_stuff_sem_seg",
        "coco_2017_val_stuff_sem_seg",
        "cityscapes_fine_sem_seg_train",
        "cityscapes_fine_sem_seg_val",
        "pascal_context_59_sem_seg_train",
        "pascal_context_59_sem_seg_val",
        "pascal_context_60_sem_seg_train",
        "pascal_context_60_sem_seg_val",
        "coco_stuff_10k_sem_seg_train",
        "coco_stuff_10k_sem_seg_test",
    ]
