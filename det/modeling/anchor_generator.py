"""Anchor boxes for dense detectors and RPNs (Faster R-CNN's sliding-window anchors).

Glossary: L feature levels; A anchors per location (``len(sizes) * len(aspect_ratios)`` of a
level); Hi x Wi the spatial size of level i.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from det.structures import Boxes

__all__ = ["DefaultAnchorGenerator", "generate_cell_anchors"]


def generate_cell_anchors(
    sizes: Sequence[float] = (32, 64, 128, 256, 512),
    aspect_ratios: Sequence[float] = (0.5, 1, 2),
) -> torch.Tensor:
    """Anchors of one location, centered on (0, 0).

    Each anchor has area ``size ** 2`` and ``height / width == aspect_ratio``.

    Args:
        sizes: anchor side lengths in input-image pixels (sqrt of the area).
        aspect_ratios: height / width ratios.

    Returns:
        Tensor[len(sizes) * len(aspect_ratios), 4] (float32): XYXY, sizes outer and aspect
        ratios inner.
    """
    anchors = []
    for size in sizes:
        area = size**2.0
        for aspect_ratio in aspect_ratios:
            # w * h = area and h = aspect_ratio * w.
            w = math.sqrt(area / aspect_ratio)
            h = aspect_ratio * w
            anchors.append([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0])
    return torch.tensor(anchors, dtype=torch.float32)


def _broadcast_params(params: Sequence, num_features: int, name: str) -> list[list[float]]:
    """Turn ``[a, b]`` (shared by all levels) or ``[[a], [b], ...]`` (per level) into per level.

    A single inner list is shared by all levels, as detectron2 allows.
    """
    if not isinstance(params, Sequence) or len(params) == 0:
        raise ValueError(f"DefaultAnchorGenerator: {name} must be a non-empty list, got {params!r}")
    if not isinstance(params[0], Sequence):
        return [list(params)] * num_features
    if len(params) == 1:
        return [list(params[0])] * num_features
    if len(params) != num_features:
        raise ValueError(
            f"DefaultAnchorGenerator: {name} has {len(params)} per-level entries but there are "
            f"{num_features} strides"
        )
    return [list(p) for p in params]


class _BufferList(nn.Module):
    """Tensors that follow ``.to(device)`` but are not saved in the state dict."""

    def __init__(self, buffers: list[torch.Tensor]) -> None:
        super().__init__()
        for i, buffer in enumerate(buffers):
            # Non-persistent: checkpoints of detectron2 models carry no anchor tensors.
            self.register_buffer(str(i), buffer, persistent=False)

    def __len__(self) -> int:
        return len(self._buffers)

    def __iter__(self):
        return iter(self._buffers.values())


class DefaultAnchorGenerator(nn.Module):
    """Anchors at every location of every feature level, shared across images.

    Args:
        sizes: anchor sizes (sqrt of area, input pixels) per level, e.g. ``[[32], [64], ...]``;
            a flat list is used for every level.
        aspect_ratios: height / width ratios per level (or one list for all levels).
        strides: stride of each feature level in input pixels; fixes the number of levels.
        offset: where the first anchor center sits, as a fraction of the stride: 0.0 puts it on
            the image's top-left corner (what detectron2's configs set), 0.5 (the default, as
            in detectron2's constructor) on the center of the first stride x stride cell.
            Must be in [0, 1).

    Attributes:
        box_dim (int): 4.
        cell_anchors: per level, Tensor[A, 4] anchors of one location (non-persistent buffers).
    """

    box_dim: int = 4

    def __init__(
        self,
        *,
        sizes: Sequence,
        aspect_ratios: Sequence,
        strides: Sequence[int],
        offset: float = 0.5,
    ) -> None:
        super().__init__()
        self.strides = list(strides)
        self.num_features = len(self.strides)
        sizes = _broadcast_params(sizes, self.num_features, "sizes")
        aspect_ratios = _broadcast_params(aspect_ratios, self.num_features, "aspect_ratios")
        self.cell_anchors = _BufferList(
            [generate_cell_anchors(s, a) for s, a in zip(sizes, aspect_ratios)]
        )
        if not 0.0 <= offset < 1.0:
            raise ValueError(f"DefaultAnchorGenerator: offset must be in [0, 1), got {offset}")
        self.offset = offset

    @property
    def num_cell_anchors(self) -> list[int]:
        """Alias of :attr:`num_anchors` (older detectron2 name)."""
        return self.num_anchors

    @property
    def num_anchors(self) -> list[int]:
        """Number of anchors per location (A) of each level, e.g. [3, 3, 3, 3, 3]."""
        return [len(cell_anchors) for cell_anchors in self.cell_anchors]

    def _grid_anchors(self, grid_sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
        anchors = []
        for (height, width), stride, base in zip(grid_sizes, self.strides, self.cell_anchors):
            shift_x, shift_y = _grid_offsets(height, width, stride, self.offset, base.device)
            shifts = torch.stack((shift_x, shift_y, shift_x, shift_y), dim=1)
            # Location-major, then the A cell anchors: matches the (Hi, Wi, A) head layout.
            anchors.append((shifts.view(-1, 1, 4) + base.view(1, -1, 4)).reshape(-1, 4))
        return anchors

    def forward(self, features: list[torch.Tensor]) -> list[Boxes]:
        """Anchors for the given feature maps (only their spatial sizes are used).

        Args:
            features: per level, Tensor[N, C, Hi, Wi].

        Returns:
            Per level, Boxes of Hi * Wi * A anchors (XYXY input pixels), ordered by location
            (row-major) then cell anchor.
        """
        if len(features) != self.num_features:
            raise ValueError(
                f"DefaultAnchorGenerator: got {len(features)} feature maps, configured for "
                f"{self.num_features} strides {self.strides}"
            )
        grid_sizes = [tuple(f.shape[-2:]) for f in features]
        return [Boxes(a) for a in self._grid_anchors(grid_sizes)]


def _grid_offsets(
    height: int, width: int, stride: int, offset: float, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """x and y of every location of an H x W grid, Tensor[H * W] each (row-major)."""
    shifts_x = torch.arange(
        offset * stride, width * stride, step=stride, dtype=torch.float32, device=device
    )
    shifts_y = torch.arange(
        offset * stride, height * stride, step=stride, dtype=torch.float32, device=device
    )
    shift_y, shift_x = torch.meshgrid(shifts_y, shifts_x, indexing="ij")
    return shift_x.reshape(-1), shift_y.reshape(-1)
