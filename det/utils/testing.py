"""Helpers for tests, under detectron2's module path (``detectron2.utils.testing``).

Everything here works offline: ``get_sample_coco_image`` draws a synthetic COCO-sized picture
instead of reading one from a dataset, so tests never need a download. Only torch and NumPy
are imported (``utils`` is the bottom layer of det).
"""

from __future__ import annotations

import io

import numpy as np
import torch

__all__ = ["get_sample_coco_image", "random_boxes", "reload_script_model"]


def random_boxes(num_boxes: int, max_coord: int = 100, device: str = "cpu") -> torch.Tensor:
    """Random valid boxes (detectron2's test helper, same distribution).

    The top-left corner is uniform in [1, max_coord / 2) per axis (values below 1 are clamped
    to 1), and the width and height are drawn the same way, so every box has a positive size
    and ends before ``max_coord``. Uses torch's global generator.

    Args:
        num_boxes: N.
        max_coord: upper bound of the coordinates.
        device: where to create the tensor.

    Returns:
        Tensor[N, 4] float32: XYXY boxes with x1 > x0 >= 1 and y1 > y0 >= 1.
    """
    boxes = torch.rand(num_boxes, 4, device=device) * (max_coord * 0.5)
    boxes.clamp_(min=1.0)
    # Adding the corner to the second pair turns sizes into x1, y1 (so widths stay >= 1).
    boxes[:, 2:] += boxes[:, :2]
    return boxes


def reload_script_model(module: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    """Save a scripted module to memory and load it back (checks that it serializes).

    Args:
        module: a ``torch.jit.script`` result.

    Returns:
        The reloaded module.
    """
    buffer = io.BytesIO()
    torch.jit.save(module, buffer)
    buffer.seek(0)
    return torch.jit.load(buffer)


def get_sample_coco_image(tensor: bool = True, height: int = 480, width: int = 640):
    """A deterministic synthetic stand-in for detectron2's sample COCO image (no download).

    A smooth color gradient with a few filled shapes (a disk, a square and a stripe), in BGR
    channel order like detectron2's helper, which reads a COCO image with ``format="BGR"``.
    The same arguments always give the same pixels.

    Args:
        tensor: return a Tensor[3, H, W] (True) or an ndarray[H, W, 3] (False).
        height, width: image size (COCO images are typically 480 x 640).

    Returns:
        uint8 Tensor[3, H, W] or ndarray[H, W, 3], BGR.
    """
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.stack(
        [
            96 + 64 * xs / max(width - 1, 1),
            80 + 96 * ys / max(height - 1, 1),
            160 - 64 * (xs + ys) / max(width + height - 2, 1),
        ],
        axis=-1,
    )
    short = min(height, width)
    disk = (xs - 0.3 * width) ** 2 + (ys - 0.4 * height) ** 2 <= (0.18 * short) ** 2
    image[disk] = (40, 60, 220)
    square = (abs(xs - 0.7 * width) <= 0.12 * short) & (abs(ys - 0.35 * height) <= 0.12 * short)
    image[square] = (200, 120, 30)
    stripe = (ys >= 0.75 * height) & (ys < 0.85 * height) & (xs >= 0.1 * width) & (xs < 0.9 * width)
    image[stripe] = (30, 200, 60)
    image = np.ascontiguousarray(image.round().clip(0, 255).astype(np.uint8))
    if tensor:
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    return image
