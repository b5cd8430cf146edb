"""Multi-level RoI pooling: each box is pooled from the feature level that matches its size.

Glossary: N images, M boxes over all images, L feature levels, C channels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torchvision.ops import RoIPool

from det.layers import ROIAlign, nonzero_tuple
from det.structures import Boxes

__all__ = ["ROIPooler", "assign_boxes_to_levels", "convert_boxes_to_pooler_format"]


def assign_boxes_to_levels(
    box_lists: list[Boxes],
    min_level: int,
    max_level: int,
    canonical_box_size: int,
    canonical_level: int,
) -> torch.Tensor:
    """Feature level of each box, by Eq. 1 of the FPN paper (Lin et al., 2017).

    ``level = floor(canonical_level + log2(sqrt(area) / canonical_box_size))``, clamped to
    ``[min_level, max_level]``: a 224 x 224 box goes to ``canonical_level``, one twice as
    large to the next level.

    Args:
        box_lists: per image, its Boxes (XYXY input pixels).
        min_level: level of the finest feature map (e.g. 2 for stride 4).
        max_level: level of the coarsest feature map used.
        canonical_box_size: box size (sqrt of area) mapped to ``canonical_level``.
        canonical_level: level of a canonical box.

    Returns:
        Tensor[M] (int64): level index relative to ``min_level`` (0 for the finest map), for the
        boxes of all images concatenated.
    """
    box_sizes = torch.sqrt(torch.cat([boxes.area() for boxes in box_lists]))
    # The epsilon keeps a box exactly at a level boundary from being rounded down by log2 error.
    levels = torch.floor(canonical_level + torch.log2(box_sizes / canonical_box_size + 1e-8))
    levels = torch.clamp(levels, min=min_level, max=max_level)
    return levels.to(torch.int64) - min_level


def convert_boxes_to_pooler_format(box_lists: list[Boxes]) -> torch.Tensor:
    """Stack the boxes of all images with their image index, as RoIAlign wants them.

    Args:
        box_lists: per image, its Boxes.

    Returns:
        Tensor[M, 5]: (image index, x0, y0, x1, y1) rows, images in order.
    """
    boxes = torch.cat([b.tensor for b in box_lists], dim=0)
    sizes = torch.tensor([len(b) for b in box_lists], device=boxes.device)
    indices = torch.repeat_interleave(
        torch.arange(len(box_lists), dtype=boxes.dtype, device=boxes.device), sizes
    )
    return torch.cat([indices[:, None], boxes], dim=1)


def _make_level_pooler(
    pooler_type: str, output_size: tuple[int, int], scale: float, sampling_ratio: int
) -> nn.Module:
    if pooler_type == "ROIAlign":
        return ROIAlign(
            output_size, spatial_scale=scale, sampling_ratio=sampling_ratio, aligned=False
        )
    if pooler_type == "ROIAlignV2":
        return ROIAlign(
            output_size, spatial_scale=scale, sampling_ratio=sampling_ratio, aligned=True
        )
    if pooler_type == "ROIPool":
        return RoIPool(output_size, spatial_scale=scale)
    raise ValueError(
        f"ROIPooler: pooler_type must be 'ROIAlign', 'ROIAlignV2' or 'ROIPool', got {pooler_type!r}"
    )


class ROIPooler(nn.Module):
    """Pool a fixed-size feature crop for every box from a list of feature levels.

    Args:
        output_size: (height, width) of each crop, or one int.
        scales: 1 / stride of each feature level, finest first, e.g. (1/4, 1/8, 1/16, 1/32);
            consecutive levels must differ by a factor of 2.
        sampling_ratio: RoIAlign samples per bin along each axis; 0 means adaptive.
        pooler_type: ``"ROIAlignV2"`` (RoIAlign with the half-pixel correction, what
            detectron2's models use), ``"ROIAlign"`` (the original, without it) or
            ``"ROIPool"``.
        canonical_box_size: box size (sqrt of area) pooled from ``canonical_level``.
        canonical_level: level (log2 of the stride) of a canonical box; 4 as in FPN.
    """

    def __init__(
        self,
        output_size: int | tuple[int, int],
        scales: Sequence[float],
        sampling_ratio: int,
        pooler_type: str = "ROIAlignV2",
        canonical_box_size: int = 224,
        canonical_level: int = 4,
    ) -> None:
        super().__init__()
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        self.output_size = tuple(output_size)
        if len(self.output_size) != 2:
            raise ValueError(f"ROIPooler: output_size must be (h, w), got {output_size!r}")
        self.level_poolers = nn.ModuleList(
            _make_level_pooler(pooler_type, self.output_size, s, sampling_ratio) for s in scales
        )

        min_level = -math.log2(scales[0])
        max_level = -math.log2(scales[-1])
        if not (
            math.isclose(min_level, round(min_level)) and math.isclose(max_level, round(max_level))
        ):
            raise ValueError(f"ROIPooler: scales must be powers of 1/2, got {list(scales)}")
        self.min_level = round(min_level)
        self.max_level = round(max_level)
        if len(scales) != self.max_level - self.min_level + 1:
            raise ValueError(
                f"ROIPooler: scales {list(scales)} must be consecutive powers of 1/2 "
                "(one level per factor of 2)"
            )
        if not 0 <= self.min_level <= self.max_level:
            raise ValueError(f"ROIPooler: invalid level range from scales {list(scales)}")
        if canonical_box_size <= 0:
            raise ValueError(f"ROIPooler: canonical_box_size must be > 0, got {canonical_box_size}")
        self.canonical_level = canonical_level
        self.canonical_box_size = canonical_box_size

    def forward(self, x: list[torch.Tensor], box_lists: list[Boxes]) -> torch.Tensor:
        """Pool one crop per box.

        Args:
            x: per level (finest first, matching ``scales``), Tensor[N, C, Hl, Wl].
            box_lists: per image (N of them), its Boxes in input-image pixels.

        Returns:
            Tensor[M, C, output_h, output_w]: crops of all boxes, images in order.
        """
        num_levels = len(self.level_poolers)
        if not isinstance(x, list) or len(x) != num_levels:
            raise ValueError(
                f"ROIPooler: expected a list of {num_levels} feature maps, got "
                f"{len(x) if isinstance(x, list) else type(x).__name__}"
            )
        if len(box_lists) != x[0].size(0):
            raise ValueError(
                f"ROIPooler: {len(box_lists)} box lists for a batch of {x[0].size(0)} images"
            )
        num_channels = x[0].shape[1]
        if len(box_lists) == 0:
            return x[0].new_zeros((0, num_channels, *self.output_size))

        pooler_fmt_boxes = convert_boxes_to_pooler_format(box_lists)
        if num_levels == 1:
            return self.level_poolers[0](x[0], pooler_fmt_boxes)

        level_assignments = assign_boxes_to_levels(
            box_lists, self.min_level, self.max_level, self.canonical_box_size, self.canonical_level
        )
        output = x[0].new_zeros((len(pooler_fmt_boxes), num_channels, *self.output_size))
        for level, pooler in enumerate(self.level_poolers):
            inds = nonzero_tuple(level_assignments == level)[0]
            output.index_put_((inds,), pooler(x[level], pooler_fmt_boxes[inds]).to(output.dtype))
        return output
