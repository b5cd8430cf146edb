"""Pasting per-box M x M mask predictions into full-image masks.

The kernel lives in ``structures`` so that ``ROIMasks.to_bitmasks`` can use it without
importing ``layers`` (imports point down: structures -> layers); ``det.layers.mask_ops``
re-exports it under detectron2's module path.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .boxes import Boxes

__all__ = ["paste_masks_in_image"]

# Pasting builds an N x H x W float buffer; on a GPU, chunks keep it under this many bytes.
_BYTES_PER_FLOAT = 4
_GPU_MEM_LIMIT = 1024**3


def _do_paste_mask(
    masks: torch.Tensor, boxes: torch.Tensor, img_h: int, img_w: int, skip_empty: bool
) -> tuple[torch.Tensor, tuple[slice, ...]]:
    """Resample masks into their boxes on the image grid.

    Args:
        masks (Tensor[N, 1, M, M]): mask probabilities.
        boxes (Tensor[N, 4]): XYXY image pixels.
        img_h, img_w: image size.
        skip_empty: only compute the image region covered by the union of the boxes (saves
            work on the CPU, where chunks are single masks).

    Returns:
        (Tensor[N, h, w] pasted values, the (y, x) slices of the image they cover; empty
        when the whole image is covered).
    """
    device = masks.device
    if skip_empty:
        x0_int, y0_int = torch.clamp(boxes.min(dim=0).values.floor()[:2] - 1, min=0).to(
            dtype=torch.int32
        )
        x1_int = torch.clamp(boxes[:, 2].max().ceil() + 1, max=img_w).to(dtype=torch.int32)
        y1_int = torch.clamp(boxes[:, 3].max().ceil() + 1, max=img_h).to(dtype=torch.int32)
    else:
        x0_int, y0_int = 0, 0
        x1_int, y1_int = img_w, img_h
    x0, y0, x1, y1 = torch.split(boxes, 1, dim=1)  # each Tensor[N, 1]

    num_masks = masks.shape[0]
    # Pixel centers (i + 0.5) mapped to [-1, 1] over each box: grid_sample's
    # align_corners=False convention, where -1 / 1 are the outer edges of the M x M mask.
    img_y = torch.arange(y0_int, y1_int, device=device, dtype=torch.float32) + 0.5
    img_x = torch.arange(x0_int, x1_int, device=device, dtype=torch.float32) + 0.5
    img_y = (img_y - y0) / (y1 - y0) * 2 - 1
    img_x = (img_x - x0) / (x1 - x0) * 2 - 1
    gx = img_x[:, None, :].expand(num_masks, img_y.size(1), img_x.size(1))
    gy = img_y[:, :, None].expand(num_masks, img_y.size(1), img_x.size(1))
    grid = torch.stack([gx, gy], dim=3)

    if not masks.dtype.is_floating_point:
        masks = masks.float()
    img_masks = F.grid_sample(masks, grid.to(masks.dtype), align_corners=False)
    if skip_empty:
        return img_masks[:, 0], (slice(int(y0_int), int(y1_int)), slice(int(x0_int), int(x1_int)))
    return img_masks[:, 0], ()


def paste_masks_in_image(
    masks: torch.Tensor,
    boxes: Boxes | torch.Tensor,
    image_shape: tuple[int, int],
    threshold: float = 0.5,
) -> torch.Tensor:
    """Paste each M x M mask into its box on an H x W image (bilinear), then binarize.

    Each mask is stretched to its box exactly: mask cell (i, j) covers box-relative
    ``[j/M, (j+1)/M) x [i/M, (i+1)/M)``, and image pixel (y, x) samples the mask at its center
    (x + 0.5, y + 0.5). Pixels outside the box read zero padding.

    Args:
        masks (Tensor[N, M, M]): mask probabilities in [0, 1].
        boxes: N boxes (Boxes or Tensor[N, 4]), XYXY image pixels.
        image_shape: (H, W) of the output.
        threshold: pixels with pasted value >= threshold are foreground (bool output); a
            negative value returns the pasted values scaled to uint8 [0, 255] instead.

    Returns:
        Tensor[N, H, W]: bool (threshold >= 0) or uint8.
    """
    if masks.shape[-1] != masks.shape[-2]:
        raise ValueError(f"paste_masks_in_image: masks must be square, got {tuple(masks.shape)}")
    num_masks = len(masks)
    img_h, img_w = int(image_shape[0]), int(image_shape[1])
    out_dtype = torch.bool if threshold >= 0 else torch.uint8
    if num_masks == 0:
        return masks.new_empty((0, img_h, img_w), dtype=out_dtype)
    if isinstance(boxes, Boxes):
        boxes = boxes.tensor
    if len(boxes) != num_masks:
        raise ValueError(
            f"paste_masks_in_image: {num_masks} masks but boxes of shape {tuple(boxes.shape)}"
        )
    device = boxes.device

    if device.type == "cpu":
        # One mask at a time: with skip_empty each touches only its own box region.
        num_chunks = num_masks
    else:
        num_chunks = math.ceil(num_masks * img_h * img_w * _BYTES_PER_FLOAT / _GPU_MEM_LIMIT)
        num_chunks = min(max(num_chunks, 1), num_masks)
    chunks = torch.chunk(torch.arange(num_masks, device=device), num_chunks)

    img_masks = torch.zeros(num_masks, img_h, img_w, device=device, dtype=out_dtype)
    for inds in chunks:
        masks_chunk, spatial_inds = _do_paste_mask(
            masks[inds, None, :, :], boxes[inds], img_h, img_w, skip_empty=device.type == "cpu"
        )
        if threshold >= 0:
            masks_chunk = masks_chunk >= threshold
        else:
            # For visualization: keep the soft values as 0-255.
            masks_chunk = (masks_chunk * 255).to(dtype=torch.uint8)
        img_masks[(inds, *spatial_inds)] = masks_chunk
    return img_masks
