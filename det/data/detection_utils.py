"""Reading images, turning transformed dataset annotations into ``Instances``, and dataset
statistics the models are built with (the federated loss's class weights).

Annotation dicts follow the dataset-dict contract of DESIGN.md: ``bbox`` + ``bbox_mode``,
``category_id`` (contiguous 0..K-1), ``segmentation`` (COCO polygons: list of flat
[x0, y0, x1, y1, ...] lists; or an RLE dict; or a binary ndarray[H, W]), ``iscrowd``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pycocotools.mask as mask_util
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from det.structures import BitMasks, Boxes, BoxMode, Instances, PolygonMasks, polygons_to_bitmask
from det.utils.logger import log_first_n

from .catalog import MetadataCatalog
from .datasets.sem_seg import read_sem_seg_gt
from .transforms import TransformList

__all__ = [
    "SizeMismatchError",
    "convert_PIL_to_numpy",
    "read_image",
    "check_image_size",
    "read_sem_seg",
    "transform_instance_annotations",
    "annotations_to_instances",
    "filter_empty_instances",
    "get_fed_loss_cls_weights",
]


class SizeMismatchError(ValueError):
    """The image read from disk does not have the size the dataset dict declares."""


def convert_PIL_to_numpy(image: Image.Image, format: str | None) -> np.ndarray:  # noqa: N802
    """Converts a PIL image to an ndarray in the requested format.

    Args:
        image: the PIL image.
        format: "RGB", "BGR", "L" (gray, returned with a trailing channel dim), any other PIL
            mode, or None to keep the image's own mode (e.g. palette indices of a label PNG).

    Returns:
        ndarray[H, W, C] (uint8 for RGB/BGR/L) or ndarray[H, W] for single-channel raw modes.
    """
    if format is not None:
        image = image.convert("RGB" if format == "BGR" else format)
    arr = np.asarray(image)
    if format == "BGR":
        arr = arr[:, :, ::-1]
    elif format == "L":
        arr = arr[:, :, None]
    return np.ascontiguousarray(arr)


def read_image(file_name: str, format: str | None = None) -> np.ndarray:
    """Reads an image, applying its EXIF orientation.

    Args:
        file_name: path of the image.
        format: see :func:`convert_PIL_to_numpy`; "RGB" or "BGR" for model inputs.

    Returns:
        ndarray[H, W, C] uint8 (or [H, W] when ``format`` is None and the file is single-channel).

    Raises:
        FileNotFoundError: the file does not exist.
        OSError: the file is not a readable image (truncated, corrupt, not an image).
    """
    try:
        with Image.open(file_name) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
            return convert_PIL_to_numpy(image, format)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"Image file '{file_name}' does not exist") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise OSError(f"Cannot read image '{file_name}' (corrupt or not an image): {e}") from e


def check_image_size(dataset_dict: dict, image: np.ndarray) -> None:
    """Checks the image size against the dict's ``width`` / ``height`` and fills them if absent.

    Args:
        dataset_dict: the dataset dict (modified in place).
        image (ndarray[H, W, ...]): the image read from ``dataset_dict["file_name"]``.

    Raises:
        SizeMismatchError: the declared and actual sizes differ.
    """
    h, w = image.shape[:2]
    if "width" in dataset_dict or "height" in dataset_dict:
        expected = (dataset_dict.get("width", w), dataset_dict.get("height", h))
        if expected != (w, h):
            raise SizeMismatchError(
                f"Image '{dataset_dict.get('file_name', '<unknown>')}' has size (w, h) = {(w, h)} "
                f"but its annotation declares {expected}; fix width/height in the dataset"
            )
    dataset_dict.setdefault("width", w)
    dataset_dict.setdefault("height", h)


def read_sem_seg(
    dataset_dict: dict,
    image_size: tuple[int, int],
    num_classes: int | None = None,
    ignore_label: int = 255,
) -> np.ndarray:
    """Reads the label map of a record and checks it against its image.

    The record's own label convention is applied (``reduce_zero_label`` for ADE20K's raw PNGs).

    Args:
        dataset_dict: a record with ``sem_seg_file_name`` (and optionally
            ``reduce_zero_label``, ``file_name``).
        image_size: (h, w) of the image as read from disk.
        num_classes: K; when given every label must be in [0, K) or ``ignore_label``.
        ignore_label: the ignored label value.

    Returns:
        ndarray[H, W] uint8: class ids, ``ignore_label`` = ignored.

    Raises:
        ValueError: the map's size differs from the image's, or a label is out of range; the
            message names the label file.
    """
    file_name = dataset_dict["sem_seg_file_name"]
    sem_seg = read_sem_seg_gt(
        file_name, reduce_zero_label=dataset_dict.get("reduce_zero_label", False)
    )
    if sem_seg.shape != tuple(image_size):
        raise ValueError(
            f"Label map '{file_name}' has size {sem_seg.shape} (h, w) but its image "
            f"'{dataset_dict.get('file_name', '<unknown>')}' has size {tuple(image_size)}"
        )
    if num_classes is not None:
        bad = (sem_seg != ignore_label) & (sem_seg >= num_classes)
        if bad.any():
            values = np.unique(sem_seg[bad])[:10].tolist()
            raise ValueError(
                f"Label map '{file_name}' has labels {values} outside [0, {num_classes}) that are "
                f"not the ignore label {ignore_label}"
                + (" (after reduce_zero_label)" if dataset_dict.get("reduce_zero_label") else "")
            )
    return sem_seg


def _rle_to_mask(segm: dict) -> np.ndarray:
    if isinstance(segm.get("counts"), list):  # uncompressed RLE
        h, w = segm["size"]
        segm = mask_util.frPyObjects(segm, h, w)
    return mask_util.decode(segm).astype(np.uint8)


def transform_instance_annotations(
    annotation: dict, transforms: TransformList | list, image_size: tuple[int, int]
) -> dict:
    """Applies transforms to one instance annotation.

    The box becomes XYXY_ABS, transformed and clipped to the image; polygons are transformed
    (and clipped by crops); RLE / binary masks become a transformed uint8 ndarray[H, W].
    Keypoints are not supported by det's models and are removed.

    Args:
        annotation: one instance annotation (modified in place and returned).
        transforms: the transforms applied to the image.
        image_size: (h, w) of the transformed image.

    Returns:
        dict: the annotation, with ``bbox_mode`` = ``BoxMode.XYXY_ABS``.
    """
    if isinstance(transforms, (list, tuple)):
        transforms = TransformList(list(transforms))
    h, w = image_size
    bbox = BoxMode.convert(annotation["bbox"], annotation["bbox_mode"], BoxMode.XYXY_ABS)
    bbox = transforms.apply_box(np.asarray([bbox], dtype=np.float64))[0]
    annotation["bbox"] = np.minimum(np.maximum(bbox, 0), [w, h, w, h])
    annotation["bbox_mode"] = BoxMode.XYXY_ABS
    annotation.pop("keypoints", None)

    segm = annotation.get("segmentation")
    if segm is None:
        return annotation
    if isinstance(segm, list):
        polygons = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in segm]
        annotation["segmentation"] = [p.reshape(-1) for p in transforms.apply_polygons(polygons)]
    elif isinstance(segm, dict):
        annotation["segmentation"] = transforms.apply_segmentation(_rle_to_mask(segm))
    elif isinstance(segm, np.ndarray):
        annotation["segmentation"] = transforms.apply_segmentation(segm)
    else:
        raise ValueError(
            f"Cannot transform segmentation of type {type(segm).__name__}; expected polygons "
            "(list of lists), a COCO RLE dict or a binary ndarray"
        )
    return annotation


def _to_bitmask(segm, h: int, w: int) -> np.ndarray:
    if isinstance(segm, list):
        return polygons_to_bitmask(segm, h, w)
    if isinstance(segm, dict):
        return _rle_to_mask(segm).astype(bool)
    if isinstance(segm, np.ndarray):
        if segm.shape != (h, w):
            raise ValueError(f"A mask of shape {segm.shape} does not match image size {(h, w)}")
        return segm.astype(bool)
    raise ValueError(f"Unsupported segmentation type {type(segm).__name__}")


def annotations_to_instances(
    annos: list[dict], image_size: tuple[int, int], mask_format: str = "polygon"
) -> Instances:
    """Builds the training targets of one image.

    Args:
        annos: transformed annotations (see :func:`transform_instance_annotations`).
        image_size: (h, w) of the transformed image.
        mask_format: "polygon" (``PolygonMasks``; an image with an RLE or binary mask falls back
            to ``BitMasks``, with a warning) or "bitmask" (``BitMasks``).

    Returns:
        Instances: ``gt_boxes`` (Boxes, XYXY absolute), ``gt_classes`` (Tensor[N] int64) and,
        when the annotations have ``segmentation``, ``gt_masks``.
    """
    if mask_format not in ("polygon", "bitmask"):
        raise ValueError(f"mask_format must be 'polygon' or 'bitmask', got {mask_format!r}")
    h, w = image_size
    boxes = [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in annos]
    target = Instances(image_size)
    target.gt_boxes = Boxes(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))
    target.gt_classes = torch.tensor([int(a["category_id"]) for a in annos], dtype=torch.int64)

    if annos and "segmentation" in annos[0]:
        segms = [a["segmentation"] for a in annos]
        if mask_format == "polygon" and all(isinstance(s, list) for s in segms):
            target.gt_masks = PolygonMasks(segms)
        else:
            if mask_format == "polygon":
                # detectron2 raises here; COCO-format exports often store some objects as RLE.
                log_first_n(
                    logging.WARNING,
                    "Some instance masks are RLE or binary arrays, not polygons: their images "
                    "get BitMasks instead of PolygonMasks. Set instance_mask_format='bitmask' "
                    "to use BitMasks for every image.",
                )
            masks = [torch.from_numpy(np.ascontiguousarray(_to_bitmask(s, h, w))) for s in segms]
            target.gt_masks = BitMasks(torch.stack(masks))
    return target


def filter_empty_instances(
    instances: Instances,
    by_box: bool = True,
    by_mask: bool = True,
    box_threshold: float = 1e-5,
    return_mask: bool = False,
) -> Instances | tuple[Instances, torch.Tensor]:
    """Removes instances whose box is (nearly) empty or whose mask is empty.

    Args:
        instances: with ``gt_boxes`` and optionally ``gt_masks``.
        by_box: drop boxes whose width or height is <= ``box_threshold`` pixels.
        by_mask: drop instances whose mask has no polygon / no pixel.
        box_threshold: minimum box side in pixels.
        return_mask: also return the Tensor[N] bool of kept instances.

    Returns:
        The kept instances (and the keep mask if ``return_mask``).
    """
    keep = torch.ones(len(instances), dtype=torch.bool)
    if by_box:
        keep &= instances.gt_boxes.nonempty(threshold=box_threshold)
    if by_mask and instances.has("gt_masks"):
        keep &= instances.gt_masks.nonempty()
    return (instances[keep], keep) if return_mask else instances[keep]


def get_fed_loss_cls_weights(
    dataset_names: str | Sequence[str], freq_weight_power: float = 1.0
) -> torch.Tensor:
    """Per-class sampling weights of the federated loss: ``image_count ** freq_weight_power``.

    Reads ``class_image_count`` (``[{"id", "image_count"}]``) from the metadata of the datasets
    (LVIS v1 registers it); detectron2's signature, so its LVIS configs work unchanged. EVA-02's
    LVIS configs use ``freq_weight_power=0.5``. The result goes to ``FastRCNNOutputLayers``'s
    ``get_fed_loss_cls_weights`` argument.

    Args:
        dataset_names: a dataset name or list of names with the same categories.
        freq_weight_power: exponent applied to the image counts.

    Returns:
        Tensor[K] float32, ordered by category id (= contiguous class index).

    Raises:
        ValueError: if no name is given, or the datasets' metadata lack ``class_image_count``
            or disagree on it.
    """
    names = [dataset_names] if isinstance(dataset_names, str) else list(dataset_names)
    if not names:
        raise ValueError("get_fed_loss_cls_weights: no dataset name given")
    counts = []
    for name in names:
        class_image_count = getattr(MetadataCatalog.get(name), "class_image_count", None)
        if class_image_count is None:
            raise ValueError(
                f"get_fed_loss_cls_weights: dataset '{name}' has no 'class_image_count' "
                "metadata (LVIS v1 provides it); the federated loss needs per-class image counts"
            )
        counts.append([c["image_count"] for c in sorted(class_image_count, key=lambda c: c["id"])])
    if any(c != counts[0] for c in counts[1:]):
        raise ValueError(
            f"get_fed_loss_cls_weights: datasets {names} have different 'class_image_count'"
        )
    return torch.tensor(counts[0], dtype=torch.float32) ** freq_weight_power
