"""Point sampling of mask logits (PointRend, Kirillov et al., 2020), used by Mask2Former's
matcher and losses instead of full-resolution masks."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["calculate_uncertainty", "get_uncertain_point_coords_with_randomness", "point_sample"]


def point_sample(input: torch.Tensor, point_coords: torch.Tensor, **kwargs) -> torch.Tensor:
    """Bilinear samples of feature maps at normalized points (``grid_sample`` with [0, 1]
    coordinates instead of [-1, 1]).

    Args:
        input (Tensor[N, C, H, W]): maps.
        point_coords (Tensor[N, P, 2] or Tensor[N, Hg, Wg, 2]): (x, y) in [0, 1]; with
            ``align_corners=False`` 0 and 1 are the map borders.
        **kwargs: passed to ``F.grid_sample`` (Mask2Former passes ``align_corners=False``).

    Returns:
        Tensor[N, C, P] (or Tensor[N, C, Hg, Wg]).
    """
    add_dim = point_coords.dim() == 3
    if add_dim:
        point_coords = point_coords.unsqueeze(2)
    output = F.grid_sample(input, 2.0 * point_coords - 1.0, **kwargs)
    return output.squeeze(3) if add_dim else output


def calculate_uncertainty(logits: torch.Tensor) -> torch.Tensor:
    """Uncertainty of class-agnostic mask logits: ``-|logit|`` (highest at the boundary).

    Args:
        logits (Tensor[R, 1, ...]).

    Returns:
        Tensor[R, 1, ...].
    """
    if logits.shape[1] != 1:
        raise ValueError(f"calculate_uncertainty expects one channel, got {logits.shape[1]}")
    return -torch.abs(logits)


def get_uncertain_point_coords_with_randomness(
    coarse_logits: torch.Tensor,
    uncertainty_func: Callable[[torch.Tensor], torch.Tensor],
    num_points: int,
    oversample_ratio: float,
    importance_sample_ratio: float,
) -> torch.Tensor:
    """PointRend's training points: mostly the most uncertain of an oversampled random set,
    plus uniform random points.

    ``int(num_points * oversample_ratio)`` uniform points are drawn and scored; the
    ``int(importance_sample_ratio * num_points)`` most uncertain are kept and the rest of the
    ``num_points`` are fresh uniform points.

    Args:
        coarse_logits (Tensor[R, C, H, W]): predictions.
        uncertainty_func: maps sampled logits Tensor[R, C, P] to Tensor[R, 1, P] (higher =
            more uncertain), e.g. :func:`calculate_uncertainty`.
        num_points: P, points per map.
        oversample_ratio: >= 1.
        importance_sample_ratio: share of points chosen by uncertainty, in [0, 1].

    Returns:
        Tensor[R, P, 2]: (x, y) in [0, 1].
    """
    if oversample_ratio < 1 or not 0 <= importance_sample_ratio <= 1:
        raise ValueError(
            "get_uncertain_point_coords_with_randomness: need oversample_ratio >= 1 and "
            f"importance_sample_ratio in [0, 1]; got {oversample_ratio}, {importance_sample_ratio}"
        )
    num_boxes = coarse_logits.shape[0]
    num_sampled = int(num_points * oversample_ratio)
    point_coords = torch.rand(num_boxes, num_sampled, 2, device=coarse_logits.device)
    point_logits = point_sample(coarse_logits, point_coords, align_corners=False)
    point_uncertainties = uncertainty_func(point_logits)
    num_uncertain = int(importance_sample_ratio * num_points)
    num_random = num_points - num_uncertain
    idx = torch.topk(point_uncertainties[:, 0, :], k=num_uncertain, dim=1)[1]
    point_coords = torch.gather(point_coords, 1, idx[..., None].expand(-1, -1, 2))
    if num_random > 0:
        random = torch.rand(num_boxes, num_random, 2, device=coarse_logits.device)
        point_coords = torch.cat([point_coords, random], dim=1)
    return point_coords
