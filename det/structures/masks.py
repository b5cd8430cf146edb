"""Instance masks: dense ``BitMasks``, ``PolygonMasks`` and per-RoI ``ROIMasks``.

Glossary: N instances; H, W image height and width; M mask side after crop-and-resize.
Polygons are flat arrays (x0, y0, x1, y1, ...) in absolute image pixels, COCO style.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pycocotools.mask as mask_util
import torch
from torchvision.ops import roi_align

from .boxes import Boxes
from .mask_paste import paste_masks_in_image

__all__ = ["BitMasks", "PolygonMasks", "ROIMasks", "polygon_area", "polygons_to_bitmask"]


def polygon_area(x: np.ndarray, y: np.ndarray) -> float:
    """Area enclosed by one simple polygon (shoelace formula).

    Args:
        x (ndarray[K]): vertex x coordinates.
        y (ndarray[K]): vertex y coordinates.
    """
    return 0.5 * float(np.abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def polygons_to_bitmask(polygons: Sequence[np.ndarray], height: int, width: int) -> np.ndarray:
    """Rasterize the union of polygons of one instance with pycocotools.

    Args:
        polygons: flat arrays (x0, y0, x1, y1, ...) in absolute pixels.
        height: output height H.
        width: output width W.

    Returns:
        ndarray[H, W] (bool).
    """
    if len(polygons) == 0:
        return np.zeros((height, width), dtype=bool)
    rles = mask_util.frPyObjects([np.asarray(p, dtype=np.float64) for p in polygons], height, width)
    rle = mask_util.merge(rles)
    return mask_util.decode(rle).astype(bool)


def _rasterize_polygons_within_box(
    polygons: list[np.ndarray], box: np.ndarray, mask_size: int
) -> torch.Tensor:
    """Rasterize the part of polygons inside ``box`` onto an M x M grid covering the box.

    Polygons are shifted so the box's top-left corner is the origin and scaled so the box
    spans M pixels each way; pycocotools then rasterizes (same semantics as detectron2, so
    Mask R-CNN mask targets match).
    """
    w, h = box[2] - box[0], box[3] - box[1]
    polygons = copy.deepcopy(polygons)
    # Guard against zero-size boxes (the target is then all background anyway).
    ratio_h = mask_size / max(h, 0.1)
    ratio_w = mask_size / max(w, 0.1)
    for p in polygons:
        p[0::2] = (p[0::2] - box[0]) * ratio_w
        p[1::2] = (p[1::2] - box[1]) * ratio_h
    return torch.from_numpy(polygons_to_bitmask(polygons, mask_size, mask_size))


class BitMasks:
    """N binary masks of one image, stored as Tensor[N, H, W] (bool).

    Attributes:
        tensor (Tensor[N, H, W]): bool.
        image_size (tuple[int, int]): (H, W).
    """

    def __init__(self, tensor: torch.Tensor | np.ndarray) -> None:
        """
        Args:
            tensor: Tensor / ndarray [N, H, W] of any dtype; nonzero means foreground. Non-
                tensors are put on the CPU.
        """
        if isinstance(tensor, torch.Tensor):
            tensor = tensor.to(torch.bool)
        else:
            tensor = torch.as_tensor(tensor, dtype=torch.bool, device=torch.device("cpu"))
        if tensor.dim() != 3:
            raise ValueError(f"BitMasks expects a Tensor[N, H, W], got shape {tuple(tensor.shape)}")
        self.image_size = tuple(tensor.shape[1:])
        self.tensor = tensor

    def to(self, *args: Any, **kwargs: Any) -> BitMasks:
        """Return ``BitMasks(self.tensor.to(*args, **kwargs))``."""
        return BitMasks(self.tensor.to(*args, **kwargs))

    @property
    def device(self) -> torch.device:
        return self.tensor.device

    def __getitem__(self, item: int | slice | torch.Tensor) -> BitMasks:
        """Index masks with an int (gives length 1), a slice, a bool mask or an index tensor."""
        if isinstance(item, int):
            return BitMasks(self.tensor[item].unsqueeze(0))
        m = self.tensor[item]
        if m.dim() != 3:
            raise IndexError(f"Indexing BitMasks with {item!r} returned shape {tuple(m.shape)}")
        return BitMasks(m)

    def __iter__(self) -> Iterator[torch.Tensor]:
        yield from self.tensor

    def __len__(self) -> int:
        return self.tensor.shape[0]

    def __repr__(self) -> str:
        return f"BitMasks(num_instances={len(self)}, image_size={self.image_size})"

    def nonempty(self) -> torch.Tensor:
        """Return Tensor[N] (bool): True for masks with at least one foreground pixel."""
        return self.tensor.flatten(1).any(dim=1)

    def area(self) -> torch.Tensor:
        """Return Tensor[N] (int64): foreground pixel count of each mask."""
        return self.tensor.flatten(1).sum(dim=1)

    @staticmethod
    def from_polygon_masks(
        polygon_masks: PolygonMasks | list[list[np.ndarray]], height: int, width: int
    ) -> BitMasks:
        """Rasterize polygons into BitMasks of size H x W.

        Args:
            polygon_masks: PolygonMasks, or one list of polygons per instance.
            height: H.
            width: W.
        """
        if isinstance(polygon_masks, PolygonMasks):
            polygon_masks = polygon_masks.polygons
        masks = [polygons_to_bitmask(p, height, width) for p in polygon_masks]
        if len(masks) == 0:
            return BitMasks(torch.zeros((0, height, width), dtype=torch.bool))
        return BitMasks(torch.stack([torch.from_numpy(m) for m in masks]))

    def crop_and_resize(self, boxes: torch.Tensor, mask_size: int) -> torch.Tensor:
        """Crop each mask to its box and resize it to M x M (Mask R-CNN mask targets).

        Uses RoIAlign with ``aligned=True`` on the 0/1 mask and thresholds at 0.5, so a pixel of
        the output is foreground when the bilinear average around its center is >= 0.5.

        Args:
            boxes (Tensor[N, 4]): XYXY absolute pixels; box i crops mask i.
            mask_size: M.

        Returns:
            Tensor[N, M, M] (bool), on the masks' device.
        """
        if len(boxes) != len(self):
            raise ValueError(f"BitMasks.crop_and_resize: {len(boxes)} boxes for {len(self)} masks")
        device = self.tensor.device
        if len(boxes) == 0:
            return torch.zeros((0, mask_size, mask_size), dtype=torch.bool, device=device)
        boxes = boxes.to(device=device, dtype=torch.float32)
        batch_inds = torch.arange(len(boxes), device=device, dtype=torch.float32)[:, None]
        rois = torch.cat([batch_inds, boxes], dim=1)
        output = roi_align(
            self.tensor.to(torch.float32)[:, None],
            rois,
            (mask_size, mask_size),
            spatial_scale=1.0,
            sampling_ratio=0,
            aligned=True,
        ).squeeze(1)
        return output >= 0.5

    def get_bounding_boxes(self) -> Boxes:
        """Tight boxes around each mask: XYXY with x1, y1 one past the last foreground pixel.

        Empty masks give the box (0, 0, 0, 0).
        """
        n, h, w = self.tensor.shape
        if n == 0:
            return Boxes(torch.zeros(0, 4, dtype=torch.float32, device=self.tensor.device))
        cols = self.tensor.any(dim=1)
        rows = self.tensor.any(dim=2)
        # argmax returns the first maximum, so on the flipped vector it finds the last True.
        x0 = cols.to(torch.uint8).argmax(dim=1)
        x1 = w - cols.flip(1).to(torch.uint8).argmax(dim=1)
        y0 = rows.to(torch.uint8).argmax(dim=1)
        y1 = h - rows.flip(1).to(torch.uint8).argmax(dim=1)
        boxes = torch.stack([x0, y0, x1, y1], dim=1).to(torch.float32)
        boxes[~cols.any(dim=1)] = 0
        return Boxes(boxes)

    @staticmethod
    def cat(bitmasks_list: Sequence[BitMasks]) -> BitMasks:
        """Concatenate BitMasks of the same image size."""
        if not isinstance(bitmasks_list, (list, tuple)) or len(bitmasks_list) == 0:
            raise ValueError("BitMasks.cat expects a non-empty list of BitMasks")
        if not all(isinstance(b, BitMasks) for b in bitmasks_list):
            raise TypeError("BitMasks.cat expects every element to be a BitMasks")
        return BitMasks(torch.cat([b.tensor for b in bitmasks_list], dim=0))


def _check_polygons(polygons_per_instance: Any, index: int) -> list[np.ndarray]:
    if not isinstance(polygons_per_instance, (list, tuple)):
        raise ValueError(
            f"PolygonMasks: instance {index} must be a list of polygons, got "
            f"{type(polygons_per_instance).__name__}"
        )
    out = []
    for j, p in enumerate(polygons_per_instance):
        if isinstance(p, torch.Tensor):
            p = p.cpu().numpy()
        arr = np.asarray(p, dtype=np.float64).reshape(-1)
        if len(arr) % 2 != 0 or len(arr) < 6:
            raise ValueError(
                f"PolygonMasks: polygon {j} of instance {index} has {len(arr)} coordinates; "
                "expected an even number >= 6 (x0, y0, x1, y1, x2, y2, ...)"
            )
        out.append(arr)
    return out


class PolygonMasks:
    """N instance masks given as polygons (COCO ``segmentation`` lists).

    Attributes:
        polygons (list[list[ndarray]]): for each instance, its polygons as float64 flat
            arrays (x0, y0, x1, y1, ...) in absolute pixels.
    """

    def __init__(self, polygons: Sequence[Sequence[Any]]) -> None:
        """
        Args:
            polygons: for each instance, a list of polygons; a polygon is a flat list / array
                / tensor of 2K numbers with K >= 3.
        """
        if not isinstance(polygons, (list, tuple)):
            raise ValueError(
                f"PolygonMasks expects a list of lists of polygons, got {type(polygons).__name__}"
            )
        self.polygons: list[list[np.ndarray]] = [
            _check_polygons(p, i) for i, p in enumerate(polygons)
        ]

    def to(self, *args: Any, **kwargs: Any) -> PolygonMasks:
        """Polygons live on the CPU; returns ``self``."""
        return self

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def get_bounding_boxes(self) -> Boxes:
        """Tight XYXY boxes around all polygons of each instance (zeros for no polygon)."""
        boxes = torch.zeros(len(self.polygons), 4, dtype=torch.float32)
        for idx, polys in enumerate(self.polygons):
            if len(polys) == 0:
                continue
            coords = np.concatenate(polys).reshape(-1, 2)
            mins = coords.min(axis=0)
            maxs = coords.max(axis=0)
            boxes[idx] = torch.tensor([mins[0], mins[1], maxs[0], maxs[1]], dtype=torch.float32)
        return Boxes(boxes)

    def nonempty(self) -> torch.Tensor:
        """Return Tensor[N] (bool): True for instances with at least one polygon."""
        return torch.tensor([len(p) > 0 for p in self.polygons], dtype=torch.bool)

    def __getitem__(self, item: int | slice | list[int] | torch.Tensor) -> PolygonMasks:
        """Select instances.

        Args:
            item: an int (gives length 1), a slice, a list of ints, a bool Tensor[N] mask
                or an int64 index tensor.
        """
        if isinstance(item, int):
            selected = [self.polygons[item]]
        elif isinstance(item, slice):
            selected = self.polygons[item]
        elif isinstance(item, list):
            selected = [self.polygons[i] for i in item]
        elif isinstance(item, torch.Tensor):
            if item.dtype == torch.bool:
                if item.dim() != 1 or len(item) != len(self):
                    raise IndexError(
                        f"PolygonMasks: bool index of shape {tuple(item.shape)} for {len(self)} "
                        "instances"
                    )
                item = item.nonzero().squeeze(1)
            selected = [self.polygons[i] for i in item.cpu().reshape(-1).tolist()]
        else:
            raise TypeError(f"Unsupported index type {type(item).__name__} for PolygonMasks")
        return PolygonMasks(selected)

    def __iter__(self) -> Iterator[list[np.ndarray]]:
        return iter(self.polygons)

    def __repr__(self) -> str:
        return f"PolygonMasks(num_instances={len(self.polygons)})"

    def __len__(self) -> int:
        return len(self.polygons)

    def crop_and_resize(self, boxes: torch.Tensor, mask_size: int) -> torch.Tensor:
        """Rasterize each instance's polygons inside its box on an M x M grid.

        The box is mapped onto the grid (its corners to the grid's outer corners) and
        pycocotools rasterizes the transformed polygons; the result equals detectron2's mask
        targets.

        Args:
            boxes (Tensor[N, 4]): XYXY absolute pixels; box i goes with instance i.
            mask_size: M.

        Returns:
            Tensor[N, M, M] (bool), on ``boxes``'s device.
        """
        if len(boxes) != len(self):
            raise ValueError(
                f"PolygonMasks.crop_and_resize: {len(boxes)} boxes for {len(self)} instances"
            )
        device = boxes.device
        if len(boxes) == 0:
            return torch.zeros((0, mask_size, mask_size), dtype=torch.bool, device=device)
        boxes_np = boxes.detach().to(torch.float64).cpu().numpy()
        results = [
            _rasterize_polygons_within_box(polys, box, mask_size)
            for polys, box in zip(self.polygons, boxes_np)
        ]
        return torch.stack(results, dim=0).to(device=device)

    def area(self) -> torch.Tensor:
        """Return Tensor[N] (float32): summed shoelace area of each instance's polygons.

        Overlaps between polygons of one instance are counted twice (as in detectron2).
        """
        areas = [sum(polygon_area(p[0::2], p[1::2]) for p in polys) for polys in self.polygons]
        return torch.tensor(areas, dtype=torch.float32)

    @staticmethod
    def cat(polymasks_list: Sequence[PolygonMasks]) -> PolygonMasks:
        """Concatenate PolygonMasks."""
        if not isinstance(polymasks_list, (list, tuple)) or len(polymasks_list) == 0:
            raise ValueError("PolygonMasks.cat expects a non-empty list of PolygonMasks")
        if not all(isinstance(p, PolygonMasks) for p in polymasks_list):
            raise TypeError("PolygonMasks.cat expects every element to be a PolygonMasks")
        return PolygonMasks(list(itertools.chain.from_iterable(p.polygons for p in polymasks_list)))


class ROIMasks:
    """Per-box soft masks predicted by a mask head, before pasting into the image.

    Attributes:
        tensor (Tensor[N, M, M]): mask probabilities (or logits) on each box's M x M grid.
    """

    def __init__(self, tensor: torch.Tensor) -> None:
        if tensor.dim() != 3:
            raise ValueError(f"ROIMasks expects a Tensor[N, M, M], got {tuple(tensor.shape)}")
        self.tensor = tensor

    def to(self, *args: Any, **kwargs: Any) -> ROIMasks:
        return ROIMasks(self.tensor.to(*args, **kwargs))

    @property
    def device(self) -> torch.device:
        return self.tensor.device

    def __len__(self) -> int:
        return self.tensor.shape[0]

    def __getitem__(self, item: int | slice | torch.Tensor) -> ROIMasks:
        """Index masks with an int (gives length 1), a slice, a bool mask or an index tensor."""
        t = self.tensor[item]
        if t.dim() == 2:
            t = t.unsqueeze(0)
        if t.dim() != 3:
            raise IndexError(f"Indexing ROIMasks with {item!r} returned shape {tuple(t.shape)}")
        return ROIMasks(t)

    def __repr__(self) -> str:
        return f"ROIMasks(num_instances={len(self)})"

    def to_bitmasks(
        self, boxes: torch.Tensor, height: int, width: int, threshold: float = 0.5
    ) -> BitMasks:
        """Paste each mask into its box on an H x W image and binarize.

        Args:
            boxes (Tensor[N, 4]): XYXY absolute pixels, one box per mask.
            height: H.
            width: W.
            threshold: probability above which a pixel is foreground.

        Returns:
            BitMasks of shape [N, H, W].
        """
        pasted = paste_masks_in_image(self.tensor, boxes, (height, width), threshold=threshold)
        return BitMasks(pasted)
