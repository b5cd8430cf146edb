"""COCO-Stuff-164K semantic segmentation (171 classes): label conversion and registration.

Layout (the MaskFormer/Mask2Former convention)::

    $DETECTRON2_DATASETS/coco/{train2017,val2017}/*.jpg
    $DETECTRON2_DATASETS/coco/stuffthingmaps_detectron2/{train2017,val2017}/*.png

``stuffthingmaps_detectron2`` holds contiguous ids 0..170 and 255. It is made once from the
official ``stuffthingmaps_trainval2017`` (pixel = COCO-Stuff id - 1, 255 = unlabeled) by
``prepare_coco_stuff_sem_seg`` (or ``python -m det.data.datasets.coco_stuff <root>/coco``):
the 11 unused thing ids are skipped and the other 171 ids map to 0..170 in increasing order,
which is mmseg's ``clsID_to_trID`` and detectron2's ``stuff_dataset_id_to_contiguous_id``.
"""

from __future__ import annotations

import argparse
import logging
import os
from functools import partial

import numpy as np
from PIL import Image

from ..catalog import DatasetCatalog, MetadataCatalog
from .builtin_meta import COCO_STUFF_CATEGORIES, get_coco_stuff_meta
from .paths import require_path
from .sem_seg import load_sem_seg

__all__ = [
    "COCO_STUFF_SPLITS",
    "coco_stuff_label_lut",
    "prepare_coco_stuff_sem_seg",
    "register_all_coco_stuff",
]

logger = logging.getLogger(__name__)

COCO_STUFF_SPLITS = {
    "coco_2017_train_stuff_sem_seg": "train2017",
    "coco_2017_val_stuff_sem_seg": "val2017",
}
"""Registered name -> split folder."""

RAW_LABEL_DIR = "stuffthingmaps_trainval2017"
LABEL_DIR = "stuffthingmaps_detectron2"


def coco_stuff_label_lut() -> np.ndarray:
    """Lookup table from raw ``stuffthingmaps`` pixel values to contiguous ids.

    Returns:
        ndarray[256] uint8: ``lut[id - 1]`` = contiguous id of COCO-Stuff id ``id``; 255 and
        the values of the 11 unused ids map to 255.
    """
    lut = np.full(256, 255, dtype=np.uint8)
    for contiguous, cat in enumerate(COCO_STUFF_CATEGORIES):
        lut[cat["id"] - 1] = contiguous
    return lut


def prepare_coco_stuff_sem_seg(
    coco_root: str, splits: tuple[str, ...] = ("train2017", "val2017")
) -> None:
    """Writes ``stuffthingmaps_detectron2/<split>/*.png`` from the official raw label maps.

    Files already converted are skipped, so an interrupted run can be resumed.

    Args:
        coco_root: the ``coco`` folder holding ``stuffthingmaps_trainval2017/``.
        splits: split folders to convert.
    """
    lut = coco_stuff_label_lut()
    for split in splits:
        src_dir = os.path.join(coco_root, RAW_LABEL_DIR, split)
        dst_dir = os.path.join(coco_root, LABEL_DIR, split)
        require_path(src_dir)
        os.makedirs(dst_dir, exist_ok=True)
        names = sorted(n for n in os.listdir(src_dir) if n.endswith(".png"))
        for i, name in enumerate(names):
            dst = os.path.join(dst_dir, name)
            if os.path.exists(dst):
                continue
            with Image.open(os.path.join(src_dir, name)) as img:
                raw = np.asarray(img, dtype=np.uint8)
            tmp = dst + ".tmp.png"
            Image.fromarray(lut[raw]).save(tmp)
            os.replace(tmp, dst)
            if (i + 1) % 5000 == 0:
                logger.info(f"Converted {i + 1}/{len(names)} label maps of {split}")
        logger.info(f"COCO-Stuff labels of {split} are in {dst_dir}")


def _load_split(coco_root: str, split: str, dataset_name: str) -> list[dict]:
    gt_root = os.path.join(coco_root, LABEL_DIR, split)
    require_path(os.path.join(coco_root, split), dataset_name)
    require_path(
        gt_root,
        dataset_name,
        hint=f"Create it from {RAW_LABEL_DIR}/{split} with "
        f"`python -m det.data.datasets.coco_stuff {coco_root}`.",
    )
    return load_sem_seg(gt_root, os.path.join(coco_root, split), dataset_name=dataset_name)


def register_all_coco_stuff(root: str) -> None:
    """Registers ``coco_2017_{train,val}_stuff_sem_seg`` under ``<root>/coco``.

    Metadata: the 171 ``stuff_classes``, ``stuff_colors``, ``stuff_dataset_id_to_contiguous_id``,
    ``ignore_label=255``, ``evaluator_type="sem_seg"``, ``reduce_zero_label=False``,
    ``image_root`` and ``sem_seg_root``. Existing registrations of these names are replaced.

    Args:
        root: the datasets root (``$DETECTRON2_DATASETS``).
    """
    coco_root = os.path.join(root, "coco")
    for name, split in COCO_STUFF_SPLITS.items():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
        DatasetCatalog.register(name, partial(_load_split, coco_root, split, name))
        MetadataCatalog.get(name).set(
            image_root=os.path.join(coco_root, split),
            sem_seg_root=os.path.join(coco_root, LABEL_DIR, split),
            evaluator_type="sem_seg",
            ignore_label=255,
            reduce_zero_label=False,
            **get_coco_stuff_meta(),
        )


def _main() -> None:
    parser = argparse.ArgumentParser(description=prepare_coco_stuff_sem_seg.__doc__)
    parser.add_argument("coco_root", help="folder holding stuffthingmaps_trainval2017/")
    parser.add_argument("--splits", nargs="+", default=["train2017", "val2017"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    prepare_coco_stuff_sem_seg(args.coco_root, tuple(args.splits))


if __name__ == "__main__":
    _main()
