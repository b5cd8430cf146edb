"""Where the ViT-Adapter's deformable attentions look: reference points and level layouts.

Glossary: an image of H x W pixels (multiples of 32) gives the ViT token grid (h, w) =
(H / 16, W / 16) and the spatial-prior pyramid c2, c3, c4 at strides 8, 16, 32, i.e. grids
(2h, 2w), (h, w), (h / 2, w / 2), flattened and concatenated into Nc = 21 * h * w / 4 tokens.

* The injector's queries are the h * w ViT tokens, each with its grid centre as reference point
  on all three pyramid levels (the values).
* The extractor's queries are the Nc pyramid tokens, each with its own grid centre, and the
  values are the ViT tokens (one level).

Reference points are cell centres normalized to [0, 1], (x, y) order: ``((j + 0.5) / W_l,
(i + 0.5) / H_l)``, as ViT-Adapter's ``get_reference_points`` computes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["DeformInputs", "adapter_deform_inputs", "grid_reference_points"]


@dataclass(frozen=True)
class DeformInputs:
    """The geometry one deformable attention needs besides its features.

    Attributes:
        reference_points (Tensor[1, Lq, L, 2]): (x, y) in [0, 1] of every query, the same on
            each of the L value levels; broadcast over the batch.
        spatial_shapes (Tensor[L, 2] int64): (H_l, W_l) of each value level.
        level_start_index (Tensor[L] int64): offset of each level in the flattened values.
    """

    reference_points: torch.Tensor
    spatial_shapes: torch.Tensor
    level_start_index: torch.Tensor


def grid_reference_points(
    shapes: list[tuple[int, int]], device: torch.device, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Cell centres of several grids, row-major per grid, grids concatenated.

    Args:
        shapes: (H_l, W_l) of each grid.
        device: device of the result.
        dtype: floating dtype of the result.

    Returns:
        Tensor[sum_l H_l * W_l, 2]: (x, y) normalized to [0, 1].
    """
    points = []
    for h, w in shapes:
        ys = (torch.arange(h, device=device, dtype=dtype) + 0.5) / h
        xs = (torch.arange(w, device=device, dtype=dtype) + 0.5) / w
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack((grid_x.reshape(-1), grid_y.reshape(-1)), -1))
    return torch.cat(points, 0)


def _levels(shapes: list[tuple[int, int]], device: torch.device):
    spatial = torch.as_tensor(shapes, dtype=torch.long, device=device)
    sizes = spatial.prod(1)
    return spatial, torch.cat((sizes.new_zeros(1), sizes.cumsum(0)[:-1]))


def adapter_deform_inputs(
    height: int, width: int, device: torch.device, dtype: torch.dtype = torch.float32
) -> tuple[DeformInputs, DeformInputs]:
    """The injector's and the extractor's geometry for an H x W input.

    Args:
        height: input H in pixels, a multiple of 32.
        width: input W in pixels, a multiple of 32.
        device: device of the tensors.
        dtype: floating dtype of the reference points.

    Returns:
        (injector, extractor): the injector attends from the (H/16, W/16) grid to the levels
        [(H/8, W/8), (H/16, W/16), (H/32, W/32)]; the extractor attends from those three
        grids to the single (H/16, W/16) level.
    """
    pyramid = [(height // s, width // s) for s in (8, 16, 32)]
    vit_grid = [(height // 16, width // 16)]
    spatial, start = _levels(pyramid, device)
    points = grid_reference_points(vit_grid, device, dtype)
    injector = DeformInputs(points[None, :, None].expand(1, -1, len(pyramid), 2), spatial, start)
    spatial, start = _levels(vit_grid, device)
    points = grid_reference_points(pyramid, device, dtype)
    extractor = DeformInputs(points[None, :, None], spatial, start)
    return injector, extractor
