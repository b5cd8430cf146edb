"""Mask pasting and its helpers under detectron2's module path (``detectron2.layers.mask_ops``).

``paste_masks_in_image`` (the aligned, grid-sample paste used at inference) is implemented in
:mod:`det.structures.mask_paste` and re-exported here. This module adds the helpers that
detectron2's tests and older code use: padding a mask grid (``pad_masks``), growing boxes by the
same factor (``scale_boxes``), and the legacy Detectron paste (``paste_mask_in_image_old``).

Glossary: N masks; M the side of a mask grid; P the padding in mask cells.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from det.structures.mask_paste import _do_paste_mask, paste_masks_in_image

__all__ = [
    "_do_paste_mask",
    "pad_masks",
    "paste_mask_in_image_old",
    "paste_masks_in_image",
    "scale_boxes",
]


def pad_masks(masks: torch.Tensor, padding: int) -> tuple[torch.Tensor, float]:
    """Surround each M x M mask with ``padding`` cells of zeros on every side.

    Args:
        masks (Tensor[N, M, M]): masks of any dtype.
        padding: P, the number of zero cells added on each side (>= 1).

    Returns:
        (Tensor[N, M + 2P, M + 2P] of the same dtype, the factor (M + 2P) / M by which the
        mask's box must grow to keep the original cells where they were; see ``scale_boxes``).
    """
    if padding < 1:
        raise ValueError(f"pad_masks: padding must be >= 1, got {padding}")
    if masks.dim() != 3 or masks.shape[-1] != masks.shape[-2]:
        raise ValueError(f"pad_masks: expected masks of shape [N, M, M], got {tuple(masks.shape)}")
    side = masks.shape[-1]
    padded = masks.new_zeros((masks.shape[0], side + 2 * padding, side + 2 * padding))
    padded[:, padding:-padding, padding:-padding] = masks
    return padded, float(side + 2 * padding) / side


def scale_boxes(boxes: torch.Tensor, scale: float) -> torch.Tensor:
    """Grow (or shrink) boxes about their centers.

    Args:
        boxes (Tensor[N, 4]): XYXY.
        scale: factor applied to the width and the height.

    Returns:
        Tensor[N, 4]: XYXY boxes with the same centers and ``scale`` times the size.
    """
    centers = (boxes[:, :2] + boxes[:, 2:]) * 0.5
    half_sizes = (boxes[:, 2:] - boxes[:, :2]) * (0.5 * scale)
    return torch.cat([centers - half_sizes, centers + half_sizes], dim=1)


def paste_mask_in_image_old(
    mask: torch.Tensor, box: torch.Tensor, img_h: int, img_w: int, threshold: float
) -> torch.Tensor:
    """Paste one mask the way the original Detectron did (kept for comparisons).

    The box is truncated to integer pixels (x0, y0, x1, y1) and treated as inclusive, so the
    mask is resized (PIL bilinear) to ``(x1 - x0 + 1) x (y1 - y0 + 1)`` pixels and written at
    (x0, y0). This is off by about half a pixel compared with ``paste_masks_in_image``, which
    is why detectron2 replaced it; masks usually come from ``pad_masks`` with boxes from
    ``scale_boxes`` so that the border cells are not cut.

    Args:
        mask (Tensor[M, M]): mask probabilities (bool masks are read as 0/1).
        box (Tensor[4]): XYXY image pixels.
        img_h, img_w: image size.
        threshold: foreground where the resized value is > threshold (uint8 0/1 output); a
            negative value keeps the resized values scaled to uint8 [0, 255].

    Returns:
        Tensor[img_h, img_w] uint8.
    """
    x0, y0, x1, y1 = (int(v) for v in box.to(dtype=torch.int32).tolist())
    samples_w, samples_h = x1 - x0 + 1, y1 - y0 + 1
    # PIL's float mode ("F") so bilinear resampling sees probabilities, not a 1-bit image.
    resized = Image.fromarray(mask.detach().cpu().to(torch.float32).numpy(), mode="F").resize(
        (samples_w, samples_h), resample=Image.BILINEAR
    )
    values = np.asarray(resized)
    if threshold >= 0:
        pasted = torch.from_numpy((values > threshold).astype(np.uint8))
    else:
        pasted = torch.from_numpy(values * 255).to(torch.uint8)

    im_mask = torch.zeros((img_h, img_w), dtype=torch.uint8)
    ix0, ix1 = max(x0, 0), min(x1 + 1, img_w)
    iy0, iy1 = max(y0, 0), min(y1 + 1, img_h)
    if ix1 > ix0 and iy1 > iy0:
        im_mask[iy0:iy1, ix0:ix1] = pasted[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0]
    return im_mask
