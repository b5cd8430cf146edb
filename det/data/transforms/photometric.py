"""mmsegmentation's ``PhotoMetricDistortion`` as a deterministic transform.

EVA / ViT-Adapter semantic-segmentation recipes apply mmseg's photometric distortion, which
works on uint8 images and converts to HSV with OpenCV's 8-bit conventions (H in [0, 180),
S and V in [0, 255]). The HSV conversions here reproduce OpenCV's 8-bit arithmetic in NumPy so
that OpenCV is not needed at run time.
"""

from __future__ import annotations

import numpy as np

from .transform import Transform

__all__ = ["PhotometricDistortionTransform", "rgb_to_hsv_uint8", "hsv_to_rgb_uint8"]

_HSV_SHIFT = 12


def _div_tables() -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(256, dtype=np.float64)
    with np.errstate(divide="ignore"):
        sdiv = np.where(i > 0, np.rint((255 << _HSV_SHIFT) / i), 0).astype(np.int64)
        hdiv = np.where(i > 0, np.rint((180 << _HSV_SHIFT) / (6.0 * i)), 0).astype(np.int64)
    return sdiv, hdiv


_SDIV, _HDIV = _div_tables()


def rgb_to_hsv_uint8(rgb: np.ndarray) -> np.ndarray:
    """RGB -> HSV with OpenCV's 8-bit fixed-point arithmetic (``COLOR_RGB2HSV``).

    Args:
        rgb (ndarray[H, W, 3]): uint8 R, G, B.

    Returns:
        ndarray[H, W, 3]: uint8 H in [0, 180), S and V in [0, 255].
    """
    c = rgb.astype(np.int64)
    r, g, b = c[..., 0], c[..., 1], c[..., 2]
    v = np.maximum(np.maximum(r, g), b)
    vmin = np.minimum(np.minimum(r, g), b)
    diff = v - vmin
    half = 1 << (_HSV_SHIFT - 1)
    s = (diff * _SDIV[v] + half) >> _HSV_SHIFT
    # Ties resolve in OpenCV's order: max == R first, then max == G.
    h = np.where(v == r, g - b, np.where(v == g, b - r + 2 * diff, r - g + 4 * diff))
    h = (h * _HDIV[diff] + half) >> _HSV_SHIFT
    h = np.where(h < 0, h + 180, h)
    return np.stack([h, s, v], axis=-1).astype(np.uint8)


# For each sector of the hue circle: which of (v, p, q, t) gives R, G and B.
_SECTOR_RGB = np.array([[0, 3, 1], [2, 0, 1], [1, 0, 3], [1, 2, 0], [3, 1, 0], [0, 1, 2]])


def hsv_to_rgb_uint8(hsv: np.ndarray) -> np.ndarray:
    """HSV -> RGB with OpenCV's 8-bit conventions (``COLOR_HSV2RGB``, float32 internally).

    Args:
        hsv (ndarray[H, W, 3]): uint8 H in [0, 180), S and V in [0, 255].

    Returns:
        ndarray[H, W, 3]: uint8 R, G, B.
    """
    f32 = np.float32
    h = hsv[..., 0].astype(f32) * f32(6.0 / 180.0)
    s = hsv[..., 1].astype(f32) * f32(1.0 / 255.0)
    v = hsv[..., 2].astype(f32) * f32(1.0 / 255.0)
    h = np.where(h >= 6, h - f32(6), h)
    sector = np.floor(h).astype(np.int64)
    frac = (h - sector).astype(f32)
    bad = (sector < 0) | (sector >= 6)
    sector = np.where(bad, 0, sector)
    frac = np.where(bad, f32(0), frac)
    one = f32(1)
    tab = np.stack([v, v * (one - s), v * (one - s * frac), v * (one - s * (one - frac))], axis=-1)
    idx = _SECTOR_RGB[sector]
    rgb = np.take_along_axis(tab, idx, axis=-1)
    rgb = np.where((s == 0)[..., None], v[..., None], rgb)
    return np.clip(np.rint(rgb * f32(255.0)), 0, 255).astype(np.uint8)


def _convert(img: np.ndarray, alpha: float = 1.0, beta: float = 0.0) -> np.ndarray:
    # mmseg's convert(): float affine, clip, then truncating cast back to uint8.
    out = img.astype(np.float32) * alpha + beta
    return np.clip(out, 0, 255).astype(np.uint8)


class PhotometricDistortionTransform(Transform):
    """Brightness, contrast, saturation and hue changes with fixed parameters, in mmseg's order.

    Order: brightness; contrast if ``contrast_first``; saturation; hue; contrast otherwise.
    A parameter set to None skips that step.

    Args:
        brightness_beta: value added to every pixel.
        contrast_alpha: factor applied to every pixel.
        contrast_first: apply contrast before (True) or after (False) the HSV steps.
        saturation_alpha: factor applied to the S channel.
        hue_delta: integer shift of the H channel (OpenCV units, modulo 180).
        image_format: channel order of the image, "RGB" or "BGR" (matters for HSV only).
    """

    def __init__(
        self,
        brightness_beta: float | None,
        contrast_alpha: float | None,
        contrast_first: bool,
        saturation_alpha: float | None,
        hue_delta: int | None,
        image_format: str = "RGB",
    ):
        if image_format not in ("RGB", "BGR"):
            raise ValueError(
                f"PhotometricDistortion: image_format must be RGB or BGR, got {image_format!r}"
            )
        self.brightness_beta = brightness_beta
        self.contrast_alpha = contrast_alpha
        self.contrast_first = contrast_first
        self.saturation_alpha = saturation_alpha
        self.hue_delta = hue_delta
        self.image_format = image_format

    def _to_hsv(self, img: np.ndarray) -> np.ndarray:
        return rgb_to_hsv_uint8(img if self.image_format == "RGB" else img[..., ::-1])

    def _from_hsv(self, hsv: np.ndarray) -> np.ndarray:
        rgb = hsv_to_rgb_uint8(hsv)
        return rgb if self.image_format == "RGB" else np.ascontiguousarray(rgb[..., ::-1])

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(
                "PhotometricDistortion expects a uint8 image of shape (H, W, 3), got "
                f"{img.dtype} {img.shape}"
            )
        if self.brightness_beta is not None:
            img = _convert(img, beta=self.brightness_beta)
        if self.contrast_first and self.contrast_alpha is not None:
            img = _convert(img, alpha=self.contrast_alpha)
        if self.saturation_alpha is not None:
            hsv = self._to_hsv(img)
            hsv[..., 1] = _convert(hsv[..., 1], alpha=self.saturation_alpha)
            img = self._from_hsv(hsv)
        if self.hue_delta is not None:
            hsv = self._to_hsv(img)
            hsv[..., 0] = (hsv[..., 0].astype(np.int64) + self.hue_delta) % 180
            img = self._from_hsv(hsv)
        if not self.contrast_first and self.contrast_alpha is not None:
            img = _convert(img, alpha=self.contrast_alpha)
        return img

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return coords

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return segmentation

    def apply_polygons(self, polygons: list[np.ndarray]) -> list[np.ndarray]:
        return polygons
