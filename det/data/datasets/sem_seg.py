"""Semantic segmentation datasets stored as image files + label PNGs.

Records from ``load_sem_seg`` hold ``file_name`` and ``sem_seg_file_name``. A label PNG holds one
uint8 class id per pixel; 255 is ignored. Datasets whose PNGs use another convention say so in
each record, so every reader (training mapper, evaluator) applies it the same way:

- ``reduce_zero_label: True`` (ADE20K's raw ``annotations/``): 0 ("other") -> 255 (ignore) and
  k -> k - 1. Read labels with ``read_sem_seg_gt(file, reduce_zero_label=...)``.
"""

from __future__ import annotations

import logging
import os
from functools import partial

import numpy as np
from PIL import Image

from ..catalog import DatasetCatalog, MetadataCatalog
from .paths import DatasetError, require_path

__all__ = [
    "load_sem_seg",
    "load_sem_seg_pairs",
    "read_split_list",
    "register_sem_seg",
    "read_sem_seg_gt",
    "reduce_zero_label",
]

logger = logging.getLogger(__name__)


def _list_by_stem(folder: str, ext: str) -> dict[str, str]:
    files = {}
    for entry in os.scandir(folder):
        if entry.is_file() and entry.name.endswith(ext):
            files[entry.name[: -len(ext)]] = entry.path
    return files


def load_sem_seg(
    gt_root: str,
    image_root: str,
    gt_ext: str = "png",
    image_ext: str = "jpg",
    reduce_zero_label: bool = False,
    dataset_name: str | None = None,
) -> list[dict]:
    """Pairs images with their label PNGs by file name.

    An image ``<stem><image_ext>`` in ``image_root`` pairs with ``<stem><gt_ext>`` in
    ``gt_root``; the extensions are stripped verbatim, so ``gt_ext="_labelTrainIds.png"`` works
    for mmseg-style names. Files without a partner are skipped with a warning giving their
    number and a few names. Nothing is opened: image sizes are read later by the mapper.

    Args:
        gt_root: folder of label PNGs.
        image_root: folder of images.
        gt_ext: suffix of label files.
        image_ext: suffix of image files.
        reduce_zero_label: mark the records as holding raw labels where 0 means ignore and
            k means class k - 1 (ADE20K's raw annotations).
        dataset_name: named in errors.

    Returns:
        list[dict]: records with ``file_name``, ``sem_seg_file_name`` (and
        ``reduce_zero_label`` when True), sorted by stem.

    Raises:
        DatasetNotFoundError: a folder does not exist.
        DatasetError: no image has a label file.
    """
    require_path(image_root, dataset_name)
    require_path(gt_root, dataset_name)
    images = _list_by_stem(image_root, image_ext)
    labels = _list_by_stem(gt_root, gt_ext)
    stems = sorted(images.keys() & labels.keys())
    unpaired_images = sorted(s + image_ext for s in images.keys() - labels.keys())
    unpaired_labels = sorted(s + gt_ext for s in labels.keys() - images.keys())
    if unpaired_images or unpaired_labels:
        logger.warning(
            f"{image_root} has {len(images)} '*{image_ext}' files and {gt_root} has "
            f"{len(labels)} '*{gt_ext}' files; using the {len(stems)} pairs. Unpaired: "
            f"{len(unpaired_images)} images (e.g. {unpaired_images[:3]}), {len(unpaired_labels)} "
            f"labels (e.g. {unpaired_labels[:3]})."
        )
    if not stems:
        who = f"Dataset '{dataset_name}': " if dataset_name else ""
        raise DatasetError(
            f"{who}no image '*{image_ext}' in {image_root} has a label '*{gt_ext}' of the same "
            f"name in {gt_root}."
        )
    records = []
    for stem in stems:
        record = {"file_name": images[stem], "sem_seg_file_name": labels[stem]}
        if reduce_zero_label:
            record["reduce_zero_label"] = True
        records.append(record)
    logger.info(f"Loaded {len(records)} images with semantic segmentation from {image_root}")
    return records


def load_sem_seg_pairs(
    pairs: list[tuple[str, str]],
    reduce_zero_label: bool = False,
    dataset_name: str | None = None,
    hint: str = "",
) -> list[dict]:
    """Records of explicit (image, label) file pairs, for layouts that are not one flat folder
    of each (split lists, per-city sub-folders).

    Every file must exist: a split that lists an image whose label is missing is an
    incomplete dataset, not something to skip silently.

    Args:
        pairs: ``(image file, label PNG)`` per image, in dataset order.
        reduce_zero_label: as in :func:`load_sem_seg`.
        dataset_name: named in errors.
        hint: extra sentence for the error about missing files (e.g. how to convert labels).

    Returns:
        list[dict]: records with ``file_name``, ``sem_seg_file_name`` (and
        ``reduce_zero_label`` when True), in the order of ``pairs``.

    Raises:
        DatasetError: ``pairs`` is empty, or files of it are missing.
    """
    who = f"Dataset '{dataset_name}': " if dataset_name else ""
    if not pairs:
        raise DatasetError(f"{who}no images found. {hint}".strip())
    missing = [f for pair in pairs for f in pair if not os.path.isfile(f)]
    if missing:
        raise DatasetError(
            f"{who}{len(missing)} of the {2 * len(pairs)} image / label files are missing, e.g. "
            f"{missing[:3]}. {hint}".strip()
        )
    records = []
    for image, label in pairs:
        record = {"file_name": image, "sem_seg_file_name": label}
        if reduce_zero_label:
            record["reduce_zero_label"] = True
        records.append(record)
    logger.info(f"Loaded {len(records)} images with semantic segmentation ({dataset_name})")
    return records


def read_split_list(path: str, dataset_name: str | None = None) -> list[str]:
    """Reads an image-list file (one stem per line, blank lines ignored).

    Args:
        path: e.g. ``VOC2010/ImageSets/SegmentationContext/train.txt``.
        dataset_name: named in errors.

    Returns:
        the stems, in file order.
    """
    require_path(path, dataset_name)
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def register_sem_seg(
    name: str,
    metadata: dict,
    gt_root: str,
    image_root: str,
    gt_ext: str = "png",
    image_ext: str = "jpg",
    reduce_zero_label: bool = False,
) -> None:
    """Registers a semantic segmentation dataset read by ``load_sem_seg``; nothing is read now.

    Metadata: ``image_root``, ``sem_seg_root``, ``evaluator_type="sem_seg"``,
    ``ignore_label=255``, ``reduce_zero_label`` and the fields of ``metadata`` (at least
    ``stuff_classes``).

    Args:
        name: dataset name, e.g. ``"ade20k_sem_seg_val"``.
        metadata: extra metadata, e.g. ``stuff_classes`` and ``stuff_colors``.
        gt_root, image_root, gt_ext, image_ext, reduce_zero_label: as in ``load_sem_seg``.
    """
    DatasetCatalog.register(
        name,
        partial(
            load_sem_seg,
            gt_root,
            image_root,
            gt_ext=gt_ext,
            image_ext=image_ext,
            reduce_zero_label=reduce_zero_label,
            dataset_name=name,
        ),
    )
    fields = {
        "image_root": image_root,
        "sem_seg_root": gt_root,
        "evaluator_type": "sem_seg",
        "ignore_label": 255,
        "reduce_zero_label": reduce_zero_label,
    }
    fields.update(metadata)
    MetadataCatalog.get(name).set(**fields)


def reduce_zero_label(label: np.ndarray) -> np.ndarray:
    """Maps raw labels where 0 means "other": 0 -> 255 (ignore), k -> k - 1, 255 stays 255.

    This is mmseg's ``reduce_zero_label`` and detectron2's ``annotations_detectron2`` conversion
    for ADE20K.

    Args:
        label (ndarray[H, W] uint8): raw labels.

    Returns:
        ndarray[H, W] uint8.
    """
    label = np.asarray(label)
    if label.dtype != np.uint8:
        raise ValueError(f"reduce_zero_label expects uint8 labels, got {label.dtype}")
    out = label - np.uint8(1)  # 0 wraps to 255
    out[label == 255] = 255
    return out


def read_sem_seg_gt(file_name: str, reduce_zero_label: bool = False) -> np.ndarray:
    """Reads a label PNG as class ids, applying the record's label convention.

    Args:
        file_name: path of a single-channel PNG.
        reduce_zero_label: apply ``reduce_zero_label`` (pass the record's
            ``record.get("reduce_zero_label", False)``).

    Returns:
        ndarray[H, W] uint8: contiguous class ids, 255 = ignore.

    Raises:
        DatasetError: the file cannot be decoded or is not single-channel 8-bit.
    """
    try:
        with Image.open(file_name) as img:
            if img.mode not in ("L", "P"):
                raise DatasetError(
                    f"Label file {file_name} has mode {img.mode}; expected a single-channel "
                    "8-bit PNG ('L' or 'P')."
                )
            label = np.array(img, dtype=np.uint8)
    except (OSError, SyntaxError) as e:
        raise DatasetError(f"Cannot read label file {file_name}: {e}") from e
    return _reduce(label) if reduce_zero_label else label


_reduce = reduce_zero_label
