"""Axis-aligned boxes: the ``BoxMode`` conventions, the ``Boxes`` container and pairwise IoU/IoA.

Glossary: N, M numbers of boxes; XYXY = (x0, y0, x1, y1); XYWH = (x0, y0, width, height);
XYWHA = (center x, center y, width, height, angle in degrees, counter-clockwise).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from enum import IntEnum

import numpy as np
import torch

__all__ = [
    "BoxMode",
    "Boxes",
    "matched_pairwise_iou",
    "pairwise_intersection",
    "pairwise_ioa",
    "pairwise_iou",
]

_RawBoxType = list[float] | tuple[float, ...] | torch.Tensor | np.ndarray


class BoxMode(IntEnum):
    """How the numbers of a box are to be read.

    Integer values equal detectron2's, since dataset dicts store ``bbox_mode`` as an int.
    """

    XYXY_ABS = 0
    """(x0, y0, x1, y1) in absolute pixels; x1, y1 are exclusive-style continuous coordinates."""
    XYWH_ABS = 1
    """(x0, y0, w, h) in absolute pixels (COCO's ``bbox``)."""
    XYXY_REL = 2
    """(x0, y0, x1, y1) relative to the image size; not supported by ``convert``."""
    XYWH_REL = 3
    """(x0, y0, w, h) relative to the image size; not supported by ``convert``."""
    XYWHA_ABS = 4
    """(xc, yc, w, h, a) in absolute pixels; a is in degrees, counter-clockwise."""

    @staticmethod
    def convert(box: _RawBoxType, from_mode: BoxMode, to_mode: BoxMode) -> _RawBoxType:
        """Convert one box or a batch of boxes between modes.

        XYWHA -> XYXY gives the axis-aligned box enclosing the rotated box; XYXY/XYWH -> XYWHA
        gives an angle of 0.

        Args:
            box: a list/tuple of 4 or 5 numbers, or a Tensor / ndarray of shape [K, 4] or
                [K, 5] (also [4] / [5]).
            from_mode: mode of ``box``.
            to_mode: wanted mode.

        Returns:
            The converted box(es), of the same type as ``box`` (same dtype for arrays/tensors).
        """
        from_mode, to_mode = BoxMode(from_mode), BoxMode(to_mode)
        if from_mode == to_mode:
            return box
        relative = (BoxMode.XYXY_REL, BoxMode.XYWH_REL)
        if from_mode in relative or to_mode in relative:
            raise NotImplementedError(
                f"BoxMode.convert: relative modes are not supported ({from_mode.name} -> "
                f"{to_mode.name})"
            )

        original_type = type(box)
        is_numpy = isinstance(box, np.ndarray)
        single_box = isinstance(box, (list, tuple))
        if single_box:
            if len(box) not in (4, 5):
                raise ValueError(
                    f"BoxMode.convert: a single box must have 4 or 5 numbers, got {len(box)}"
                )
            arr = torch.tensor(box, dtype=torch.float64)[None, :]
        elif is_numpy:
            arr = torch.from_numpy(np.ascontiguousarray(box))
        elif isinstance(box, torch.Tensor):
            arr = box
        else:
            raise TypeError(
                f"BoxMode.convert: expected list, tuple, np.ndarray or Tensor, got "
                f"{original_type.__name__}"
            )
        squeeze = arr.dim() == 1
        if squeeze:
            arr = arr[None, :]
        out = _convert_tensor(arr, from_mode, to_mode)
        if squeeze:
            out = out[0]
        if single_box:
            return original_type(out.flatten().tolist())
        if is_numpy:
            return out.numpy()
        return out


def _convert_tensor(arr: torch.Tensor, from_mode: BoxMode, to_mode: BoxMode) -> torch.Tensor:
    expected = 5 if from_mode == BoxMode.XYWHA_ABS else 4
    if arr.dim() != 2 or arr.shape[-1] != expected:
        raise ValueError(
            f"BoxMode.convert: {from_mode.name} boxes must have shape [K, {expected}], "
            f"got {tuple(arr.shape)}"
        )
    if from_mode == BoxMode.XYWHA_ABS:
        # Work in float64 so the trigonometry does not lose precision on integer inputs.
        a = arr.double()
        theta = a[:, 4] * (math.pi / 180.0)
        cos, sin = theta.cos().abs(), theta.sin().abs()
        w = cos * a[:, 2] + sin * a[:, 3]
        h = cos * a[:, 3] + sin * a[:, 2]
        xyxy = torch.stack(
            [a[:, 0] - w / 2, a[:, 1] - h / 2, a[:, 0] + w / 2, a[:, 1] + h / 2], dim=1
        )
        xyxy = xyxy.to(arr.dtype)
        if to_mode == BoxMode.XYXY_ABS:
            return xyxy
        return _convert_tensor(xyxy, BoxMode.XYXY_ABS, to_mode)
    if to_mode == BoxMode.XYWHA_ABS:
        if from_mode == BoxMode.XYWH_ABS:
            arr = _convert_tensor(arr, BoxMode.XYWH_ABS, BoxMode.XYXY_ABS)
        w = arr[:, 2] - arr[:, 0]
        h = arr[:, 3] - arr[:, 1]
        return torch.stack([arr[:, 0] + w / 2, arr[:, 1] + h / 2, w, h, torch.zeros_like(w)], dim=1)
    out = arr.clone()
    if from_mode == BoxMode.XYWH_ABS and to_mode == BoxMode.XYXY_ABS:
        out[:, 2:] += arr[:, :2]
    elif from_mode == BoxMode.XYXY_ABS and to_mode == BoxMode.XYWH_ABS:
        out[:, 2:] -= arr[:, :2]
    else:
        raise NotImplementedError(f"BoxMode.convert: {from_mode.name} -> {to_mode.name}")
    return out


class Boxes:
    """A list of N axis-aligned boxes stored as one Tensor[N, 4] (XYXY, absolute pixels).

    Supports indexing, ``len``, ``to(device)`` and the common box computations. Boxes are
    float32.

    Attributes:
        tensor (Tensor[N, 4]): float32, XYXY absolute pixels.
    """

    def __init__(self, tensor: torch.Tensor | np.ndarray | Sequence) -> None:
        """
        Args:
            tensor: Tensor[N, 4] or anything ``torch.as_tensor`` accepts (put on the CPU).
                An empty input becomes Tensor[0, 4].
        """
        if isinstance(tensor, torch.Tensor):
            tensor = tensor.to(torch.float32)
        else:
            tensor = torch.as_tensor(tensor, dtype=torch.float32, device=torch.device("cpu"))
        if tensor.numel() == 0:
            # reshape keeps the tensor in the autograd graph, unlike creating a new one.
            tensor = tensor.reshape((-1, 4)).to(dtype=torch.float32)
        if tensor.dim() != 2 or tensor.size(-1) != 4:
            raise ValueError(f"Boxes expects a Tensor[N, 4], got shape {tuple(tensor.shape)}")
        self.tensor = tensor

    def clone(self) -> Boxes:
        """Return a copy that does not share storage."""
        return Boxes(self.tensor.clone())

    def to(self, *args, **kwargs) -> Boxes:
        """Return ``Boxes(self.tensor.to(*args, **kwargs))``, e.g. ``boxes.to("cuda")``."""
        return Boxes(self.tensor.to(*args, **kwargs))

    def area(self) -> torch.Tensor:
        """Return Tensor[N]: (x1 - x0) * (y1 - y0) of each box (not clamped)."""
        box = self.tensor
        return (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])

    def clip(self, box_size: tuple[int, int]) -> None:
        """Clip boxes in place to the image: x to [0, width], y to [0, height].

        Args:
            box_size: (height, width) of the image.
        """
        if not torch.isfinite(self.tensor).all():
            raise FloatingPointError("Boxes.clip: box tensor contains infinite or NaN values")
        h, w = box_size
        x0 = self.tensor[:, 0].clamp(min=0, max=w)
        y0 = self.tensor[:, 1].clamp(min=0, max=h)
        x1 = self.tensor[:, 2].clamp(min=0, max=w)
        y1 = self.tensor[:, 3].clamp(min=0, max=h)
        self.tensor = torch.stack((x0, y0, x1, y1), dim=-1)

    def nonempty(self, threshold: float = 0.0) -> torch.Tensor:
        """Return Tensor[N] (bool): True where both width and height exceed ``threshold``."""
        box = self.tensor
        widths = box[:, 2] - box[:, 0]
        heights = box[:, 3] - box[:, 1]
        return (widths > threshold) & (heights > threshold)

    def __getitem__(self, item) -> Boxes:
        """Index boxes.

        Args:
            item: an int (gives a Boxes of length 1), a slice, a bool Tensor[N] mask or an
                int64 index tensor / list.

        Returns:
            Boxes sharing storage with ``self`` where torch indexing does.
        """
        if isinstance(item, int):
            return Boxes(self.tensor[item].view(1, -1))
        b = self.tensor[item]
        if b.dim() != 2:
            raise IndexError(f"Indexing Boxes with {item!r} did not give a 2-d tensor")
        return Boxes(b)

    def __len__(self) -> int:
        return self.tensor.shape[0]

    def __repr__(self) -> str:
        return f"Boxes({self.tensor})"

    def inside_box(self, box_size: tuple[int, int], boundary_threshold: int = 0) -> torch.Tensor:
        """Return Tensor[N] (bool): True for boxes fully inside the image (with a margin).

        Args:
            box_size: (height, width) of the image.
            boundary_threshold: boxes may extend this many pixels past the image border.
        """
        height, width = box_size
        t = self.tensor
        return (
            (t[:, 0] >= -boundary_threshold)
            & (t[:, 1] >= -boundary_threshold)
            & (t[:, 2] < width + boundary_threshold)
            & (t[:, 3] < height + boundary_threshold)
        )

    def get_centers(self) -> torch.Tensor:
        """Return Tensor[N, 2]: (x, y) box centers."""
        return (self.tensor[:, :2] + self.tensor[:, 2:]) / 2

    def scale(self, scale_x: float, scale_y: float) -> None:
        """Scale box coordinates in place: x by ``scale_x``, y by ``scale_y``."""
        self.tensor[:, 0::2] *= scale_x
        self.tensor[:, 1::2] *= scale_y

    @classmethod
    def cat(cls, boxes_list: Sequence[Boxes]) -> Boxes:
        """Concatenate a list of Boxes into one (an empty list gives Boxes of length 0)."""
        if not isinstance(boxes_list, (list, tuple)):
            raise TypeError(f"Boxes.cat expects a list, got {type(boxes_list).__name__}")
        if len(boxes_list) == 0:
            return cls(torch.empty(0))
        if not all(isinstance(b, Boxes) for b in boxes_list):
            raise TypeError("Boxes.cat expects every element to be a Boxes")
        return cls(torch.cat([b.tensor for b in boxes_list], dim=0))

    @property
    def device(self) -> torch.device:
        return self.tensor.device

    def __iter__(self) -> Iterator[torch.Tensor]:
        """Yield each box as a Tensor[4]."""
        yield from self.tensor


def pairwise_intersection(boxes1: Boxes, boxes2: Boxes) -> torch.Tensor:
    """Intersection area of every pair of boxes.

    Args:
        boxes1: N boxes.
        boxes2: M boxes.

    Returns:
        Tensor[N, M]: area of boxes1[i] ∩ boxes2[j] (0 when they do not overlap).
    """
    b1, b2 = boxes1.tensor, boxes2.tensor
    top_left = torch.max(b1[:, None, :2], b2[None, :, :2])
    bottom_right = torch.min(b1[:, None, 2:], b2[None, :, 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    return wh[..., 0] * wh[..., 1]


# torchvision.ops.box_iou divides 0 by 0 for two identical zero-area boxes (NaN); detection code
# needs 0 there, hence the explicit guard below.
def pairwise_iou(boxes1: Boxes, boxes2: Boxes) -> torch.Tensor:
    """Intersection over union of every pair of boxes.

    Args:
        boxes1: N boxes.
        boxes2: M boxes.

    Returns:
        Tensor[N, M]: IoU in [0, 1]; 0 wherever the intersection is empty (zero-area boxes
        included).
    """
    area1 = boxes1.area()
    area2 = boxes2.area()
    inter = pairwise_intersection(boxes1, boxes2)
    union = area1[:, None] + area2[None, :] - inter
    return torch.where(inter > 0, inter / union.clamp(min=torch.finfo(inter.dtype).tiny), 0.0)


def pairwise_ioa(boxes1: Boxes, boxes2: Boxes) -> torch.Tensor:
    """Intersection over the area of the second box, for every pair.

    Args:
        boxes1: N boxes.
        boxes2: M boxes (e.g. crowd regions).

    Returns:
        Tensor[N, M]: area(boxes1[i] ∩ boxes2[j]) / area(boxes2[j]); 0 where the intersection
        is empty.
    """
    area2 = boxes2.area()
    inter = pairwise_intersection(boxes1, boxes2)
    denom = area2[None, :].clamp(min=torch.finfo(inter.dtype).tiny)
    return torch.where(inter > 0, inter / denom, 0.0)


def matched_pairwise_iou(boxes1: Boxes, boxes2: Boxes) -> torch.Tensor:
    """IoU of corresponding boxes (boxes1[i] with boxes2[i]).

    Args:
        boxes1: N boxes.
        boxes2: N boxes.

    Returns:
        Tensor[N]: IoU of each pair; 0 where the intersection is empty.
    """
    if len(boxes1) != len(boxes2):
        raise ValueError(
            f"matched_pairwise_iou: boxes must have equal length, got {len(boxes1)} and "
            f"{len(boxes2)}"
        )
    b1, b2 = boxes1.tensor, boxes2.tensor
    top_left = torch.max(b1[:, :2], b2[:, :2])
    bottom_right = torch.min(b1[:, 2:], b2[:, 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    union = boxes1.area() + boxes2.area() - inter
    return torch.where(inter > 0, inter / union.clamp(min=torch.finfo(inter.dtype).tiny), 0.0)
