"""Cityscapes semantic segmentation (19 training classes): trainId conversion and registration.

Layout (the official ``leftImg8bit_trainvaltest.zip`` and ``gtFine_trainvaltest.zip``, as mmseg
and detectron2 expect them)::

    $DETECTRON2_DATASETS/cityscapes/leftImg8bit/{train,val}/<city>/<stem>_leftImg8bit.png
    $DETECTRON2_DATASETS/cityscapes/gtFine/{train,val}/<city>/<stem>_gtFine_labelTrainIds.png

The official archive holds ``*_gtFine_labelIds.png`` (the 34 full label ids); the
``*_labelTrainIds.png`` files (0..18, 255 = ignore) are made once by
``prepare_cityscapes_train_ids`` (or ``python -m det.data.datasets.cityscapes <root>/cityscapes``),
with the id -> trainId table of ``cityscapesscripts.helpers.labels`` (which mmseg's converter and
``createTrainIdLabelImgs`` use).
"""

from __future__ import annotations

import argparse
import logging
import os
from functools import partial

import numpy as np
from PIL import Image

from ..catalog import DatasetCatalog, MetadataCatalog
from .paths import require_path
from .sem_seg import load_sem_seg_pairs

__all__ = [
    "CITYSCAPES_CLASSES",
    "CITYSCAPES_COLORS",
    "CITYSCAPES_SPLITS",
    "cityscapes_train_id_lut",
    "get_cityscapes_sem_seg_meta",
    "prepare_cityscapes_train_ids",
    "register_all_cityscapes",
]

logger = logging.getLogger(__name__)

CITYSCAPES_SPLITS = {
    "cityscapes_fine_sem_seg_train": "train",
    "cityscapes_fine_sem_seg_val": "val",
}
"""Registered name -> split folder under ``leftImg8bit/`` and ``gtFine/``."""

CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)  # fmt: skip
"""The 19 evaluated classes, in trainId order."""

CITYSCAPES_COLORS = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32),
)  # fmt: skip
"""The official palette of the 19 classes."""

# labelId -> trainId of every label that is evaluated (cityscapesscripts' table); all other ids
# (unlabeled, ego vehicle, ..., parking, rail track, guard rail, bridge, tunnel, polegroup,
# caravan, trailer, license plate) are ignored.
_ID_TO_TRAIN_ID = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
    26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}  # fmt: skip

IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelTrainIds.png"
RAW_LABEL_SUFFIX = "_gtFine_labelIds.png"


def cityscapes_train_id_lut() -> np.ndarray:
    """Lookup table from Cityscapes label ids to trainIds.

    Returns:
        ndarray[256] uint8: ``lut[label_id]`` = trainId (0..18), 255 for ignored ids.
    """
    lut = np.full(256, 255, dtype=np.uint8)
    for label_id, train_id in _ID_TO_TRAIN_ID.items():
        lut[label_id] = train_id
    return lut


def get_cityscapes_sem_seg_meta() -> dict:
    """Metadata of Cityscapes semantic segmentation: ``stuff_classes`` and ``stuff_colors``."""
    return {"stuff_classes": list(CITYSCAPES_CLASSES), "stuff_colors": list(CITYSCAPES_COLORS)}


def _walk(folder: str, suffix: str) -> list[str]:
    """Paths relative to ``folder`` without ``suffix``, of the files ending in it, sorted."""
    stems = []
    for dirpath, _, files in os.walk(folder):
        for name in files:
            if name.endswith(suffix):
                rel = os.path.relpath(os.path.join(dirpath, name), folder)
                stems.append(rel[: -len(suffix)])
    return sorted(stems)


def prepare_cityscapes_train_ids(
    cityscapes_root: str, splits: tuple[str, ...] = ("train", "val")
) -> int:
    """Writes ``gtFine/<split>/<city>/*_gtFine_labelTrainIds.png`` from the official
    ``*_gtFine_labelIds.png``. Files already converted are skipped (an interrupted run
    resumes); each file is written to a temporary name and renamed.

    Args:
        cityscapes_root: the ``cityscapes`` folder holding ``gtFine/``.
        splits: split folders to convert.

    Returns:
        the number of files written.
    """
    lut = cityscapes_train_id_lut()
    written = 0
    for split in splits:
        gt_dir = os.path.join(cityscapes_root, "gtFine", split)
        require_path(gt_dir)
        for stem in _walk(gt_dir, RAW_LABEL_SUFFIX):
            dst = os.path.join(gt_dir, stem + LABEL_SUFFIX)
            if os.path.exists(dst):
                continue
            with Image.open(os.path.join(gt_dir, stem + RAW_LABEL_SUFFIX)) as img:
                raw = np.asarray(img, dtype=np.uint8)
            tmp = dst + ".tmp.png"
            Image.fromarray(lut[raw]).save(tmp)
            os.replace(tmp, dst)
            written += 1
        logger.info(f"Cityscapes trainId labels of {split} are in {gt_dir}")
    return written


def _load_split(cityscapes_root: str, split: str, dataset_name: str) -> list[dict]:
    image_dir = os.path.join(cityscapes_root, "leftImg8bit", split)
    gt_dir = os.path.join(cityscapes_root, "gtFine", split)
    require_path(image_dir, dataset_name)
    require_path(gt_dir, dataset_name)
    pairs = [
        (os.path.join(image_dir, stem + IMAGE_SUFFIX), os.path.join(gt_dir, stem + LABEL_SUFFIX))
        for stem in _walk(image_dir, IMAGE_SUFFIX)
    ]
    return load_sem_seg_pairs(
        pairs,
        dataset_name=dataset_name,
        hint=f"Make the '*{LABEL_SUFFIX}' files from the official '*{RAW_LABEL_SUFFIX}' with "
        f"`python -m det.data.datasets.cityscapes {cityscapes_root}`.",
    )


def register_all_cityscapes(root: str) -> None:
    """Registers ``cityscapes_fine_sem_seg_{train,val}`` under ``<root>/cityscapes``.

    Metadata: the 19 ``stuff_classes`` and ``stuff_colors``, ``ignore_label=255``,
    ``evaluator_type="sem_seg"``, ``image_root``, ``sem_seg_root``. Existing registrations of
    these names are replaced.

    Args:
        root: the datasets root (``$DETECTRON2_DATASETS``).
    """
    base = os.path.join(root, "cityscapes")
    for name, split in CITYSCAPES_SPLITS.items():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
        DatasetCatalog.register(name, partial(_load_split, base, split, name))
        MetadataCatalog.get(name).set(
            image_root=os.path.join(base, "leftImg8bit", split),
            sem_seg_root=os.path.join(base, "gtFine", split),
            evaluator_type="sem_seg",
            ignore_label=255,
            reduce_zero_label=False,
            **get_cityscapes_sem_seg_meta(),
        )


def _main() -> None:
    parser = argparse.ArgumentParser(description=prepare_cityscapes_train_ids.__doc__)
    parser.add_argument("cityscapes_root", help="folder holding gtFine/")
    parser.add_argument("--splits", nargs="+", default=["train", "val"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    prepare_cityscapes_train_ids(args.cityscapes_root, tuple(args.splits))


if __name__ == "__main__":
    _main()
