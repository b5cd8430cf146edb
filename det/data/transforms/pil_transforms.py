"""Transforms computed with PIL: a color operation on a PIL image, and an extent (crop +
resize of an arbitrary rectangle).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

from .transform import ColorTransform, Transform, _like_input

__all__ = ["ExtentTransform", "PILColorTransform"]


class PILColorTransform(ColorTransform):
    """A color operation written for PIL images (e.g. an ``ImageOps`` or ``ImageEnhance`` call).

    Args:
        op: maps a ``PIL.Image`` to a ``PIL.Image`` of the same size and mode. Use a named
            function or a picklable object so that data-loader workers can receive it.
    """

    def __init__(self, op: Callable[[Image.Image], Image.Image]):
        super().__init__(op)

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        """Applies ``op`` to ``img`` (ndarray[H, W, C] uint8) through PIL."""
        return np.asarray(self.op(Image.fromarray(img)))


class ExtentTransform(Transform):
    """Maps the rectangle ``src_rect`` of the input onto a whole ``output_size`` image.

    PIL's ``Image.EXTENT`` transform: output pixel centers sample the source rectangle
    uniformly; parts of the rectangle outside the input read ``fill``. Points are mapped by the
    same affine map: the rectangle's center goes to the output's center and sizes scale by
    ``output / rectangle``.

    Args:
        src_rect: (x0, y0, x1, y1) in input pixels, may extend beyond the image.
        output_size: (h, w) of the output.
        interp: PIL filter for images (segmentation always uses nearest).
        fill: value for output pixels whose source lies outside the input.
    """

    def __init__(
        self,
        src_rect: tuple[float, float, float, float],
        output_size: tuple[int, int],
        interp: int = Image.BILINEAR,
        fill: float = 0,
    ):
        x0, y0, x1, y1 = (float(v) for v in src_rect)
        if not (x1 > x0 and y1 > y0):
            raise ValueError(
                f"ExtentTransform: src_rect must have x1 > x0, y1 > y0, got {src_rect}"
            )
        self.src_rect = tuple(src_rect)
        self.output_size = (int(output_size[0]), int(output_size[1]))
        self.interp = interp
        self.fill = fill

    def apply_image(self, img: np.ndarray, interp: int | None = None) -> np.ndarray:
        h, w = self.output_size
        single_channel = img.ndim == 3 and img.shape[2] == 1
        pil = Image.fromarray(img[:, :, 0] if single_channel else img)
        out = pil.transform(
            size=(w, h),
            method=Image.EXTENT,
            data=self.src_rect,
            resample=self.interp if interp is None else interp,
            fill=self.fill,
        )
        out = np.asarray(out)
        return out[:, :, None] if single_channel else out

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return self.apply_image(segmentation, interp=Image.NEAREST)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        h, w = self.output_size
        x0, y0, x1, y1 = (float(v) for v in self.src_rect)
        out = np.array(coords, dtype=np.float64, copy=True)
        out[:, 0] = (out[:, 0] - 0.5 * (x0 + x1)) * (w / (x1 - x0)) + 0.5 * w
        out[:, 1] = (out[:, 1] - 0.5 * (y0 + y1)) * (h / (y1 - y0)) + 0.5 * h
        return _like_input(out, coords)
