"""Deterministic geometric and photometric transforms.

A :class:`Transform` holds fully determined parameters (no randomness) and applies the same
operation to every kind of annotation that lives in image space, so that an image and its
boxes, polygons, bitmasks and semantic maps always stay aligned.

Glossary:
    image (ndarray[H, W, C] or [H, W]): uint8 (or float32) pixels, detectron2's HWC layout.
    coords (ndarray[N, 2]): float (x, y) points in absolute pixels; pixel (i, j) covers
        [j, j + 1) x [i, i + 1), so the image spans [0, W] x [0, H].
    box (ndarray[N, 4]): XYXY boxes in absolute pixels.
    polygons (list[ndarray[K_i, 2]]): (x, y) vertices in absolute pixels.
    segmentation (ndarray[H, W]): integer label map or binary mask; resampled with nearest.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = [
    "Transform",
    "TransformList",
    "NoOpTransform",
    "HFlipTransform",
    "VFlipTransform",
    "ResizeTransform",
    "CropTransform",
    "PadTransform",
    "ColorTransform",
]


def _like_input(out: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Float results cast back to an integer input's dtype (truncating, as NumPy assignment).

    detectron2 (fvcore) writes transformed points into the input array, so integer points stay
    integers; float inputs, the common case, are unaffected.
    """
    dtype = np.asarray(coords).dtype
    return out.astype(dtype) if np.issubdtype(dtype, np.integer) else out


class Transform:
    """Base class of deterministic transforms.

    Subclasses implement :meth:`apply_image` and :meth:`apply_coords`; the other ``apply_*``
    methods derive from these two unless a subclass needs something more specific (for example
    cropping polygons to the crop window).
    """

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        """Transforms an image.

        Args:
            img (ndarray[H, W, C] or [H, W]): uint8 or float32 pixels.

        Returns:
            ndarray: the transformed image, same dtype and channel count.
        """
        raise NotImplementedError

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        """Transforms points.

        Args:
            coords (ndarray[N, 2]): float (x, y) in absolute pixels.

        Returns:
            ndarray[N, 2]: transformed points. Points may fall outside the new image.
        """
        raise NotImplementedError

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        """Transforms a semantic label map or a binary mask with nearest-neighbour sampling.

        Args:
            segmentation (ndarray[H, W]): integer labels or booleans.

        Returns:
            ndarray[H', W']: same dtype.
        """
        return self.apply_image(segmentation)

    def apply_box(self, box: np.ndarray) -> np.ndarray:
        """Transforms boxes: the tight axis-aligned box around the 4 transformed corners.

        Args:
            box (ndarray[N, 4]): XYXY absolute pixels.

        Returns:
            ndarray[N, 4]: XYXY absolute pixels (not clipped).
        """
        box = np.asarray(box, dtype=np.float64).reshape(-1, 4)
        corners = box[:, [0, 1, 2, 1, 0, 3, 2, 3]].reshape(-1, 2)
        corners = self.apply_coords(corners).reshape(-1, 4, 2)
        return np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)

    def apply_polygons(self, polygons: list[np.ndarray]) -> list[np.ndarray]:
        """Transforms polygons.

        Args:
            polygons (list[ndarray[K_i, 2]]): (x, y) vertices.

        Returns:
            list[ndarray[K'_i, 2]]: transformed polygons; a transform that removes image area
            (a crop) clips them and drops the ones left with no area.
        """
        return [self.apply_coords(np.asarray(p)) for p in polygons]

    def inverse(self) -> Transform:
        """Returns the transform that undoes this one (exact for flips and pads, a resize back
        for resizes)."""
        raise NotImplementedError(f"{type(self).__name__} has no inverse")

    @classmethod
    def register_type(cls, data_type: str, func: Callable | None = None):
        """Adds ``apply_<data_type>`` to this transform class (fvcore's extension point).

        ``func(transform, x)`` receives the transform instance and the data. Registering on
        ``Transform`` reaches every subclass that does not define its own; a
        :class:`TransformList` forwards ``apply_<data_type>`` to each of its transforms. Used
        as a decorator when ``func`` is omitted.

        Args:
            data_type: the name after ``apply_``, e.g. ``"voxel"``.
            func: a function of two positional arguments (transform, data).

        Returns:
            None, or the decorator when ``func`` is omitted.
        """
        if func is None:

            def decorator(f: Callable) -> Callable:
                cls.register_type(data_type, f)
                return f

            return decorator
        if not callable(func):
            raise TypeError(f"{cls.__name__}.register_type: func must be callable, got {func!r}")
        num_args = len(inspect.getfullargspec(func).args)
        if num_args != 2:
            raise TypeError(
                f"{cls.__name__}.register_type('{data_type}'): func must take exactly 2 "
                f"arguments (transform, data), got {num_args}"
            )
        setattr(cls, f"apply_{data_type}", func)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class TransformList(Transform):
    """A sequence of transforms applied in order.

    Args:
        transforms: the transforms; nested lists are flattened.
    """

    def __init__(self, transforms: list[Transform]):
        flat: list[Transform] = []
        for t in transforms:
            if isinstance(t, TransformList):
                flat.extend(t.transforms)
            elif isinstance(t, Transform):
                flat.append(t)
            else:
                raise TypeError(f"TransformList expects Transform instances, got {type(t)}")
        self.transforms = flat

    def __getattribute__(self, name: str):
        # Every apply_* (built in or added by register_type) runs through the list.
        if name.startswith("apply_"):
            return lambda x: object.__getattribute__(self, "_apply")(name, x)
        return object.__getattribute__(self, name)

    def _apply(self, method: str, x):
        for t in self.transforms:
            x = getattr(t, method)(x)
        return x

    def inverse(self) -> TransformList:
        return TransformList([t.inverse() for t in reversed(self.transforms)])

    def __add__(self, other: Transform) -> TransformList:
        return TransformList([self, other])

    def __len__(self) -> int:
        return len(self.transforms)

    def __getitem__(self, idx: int) -> Transform:
        return self.transforms[idx]

    def __iter__(self):
        return iter(self.transforms)

    def __repr__(self) -> str:
        return f"TransformList({self.transforms!r})"


class NoOpTransform(Transform):
    """The identity."""

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        return img

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return coords

    def apply_polygons(self, polygons: list[np.ndarray]) -> list[np.ndarray]:
        return polygons

    def inverse(self) -> Transform:
        return self


class HFlipTransform(Transform):
    """Horizontal flip of an image of the given width: x -> width - x.

    Args:
        width: image width in pixels.
    """

    def __init__(self, width: int):
        self.width = int(width)

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.flip(img, axis=1))

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        out = np.array(coords, dtype=np.float64, copy=True)
        out[:, 0] = self.width - out[:, 0]
        return _like_input(out, coords)

    def inverse(self) -> Transform:
        return self


class VFlipTransform(Transform):
    """Vertical flip of an image of the given height: y -> height - y.

    Args:
        height: image height in pixels.
    """

    def __init__(self, height: int):
        self.height = int(height)

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.flip(img, axis=0))

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        out = np.array(coords, dtype=np.float64, copy=True)
        out[:, 1] = self.height - out[:, 1]
        return _like_input(out, coords)

    def inverse(self) -> Transform:
        return self


def _nearest_indices(in_size: int, out_size: int) -> np.ndarray:
    # PIL's NEAREST resize samples floor((dst + 0.5) * in / out), computed by accumulating the
    # step in float64; the running sum is reproduced so the labels match PIL-resized images.
    step = in_size / out_size
    steps = np.full(out_size, step)
    steps[0] = 0.5 * step
    return np.clip(np.floor(np.cumsum(steps)).astype(np.int64), 0, in_size - 1)


class ResizeTransform(Transform):
    """Resize from (h, w) to (new_h, new_w).

    uint8 images are resized with PIL (bilinear by default, antialiased when shrinking, as
    detectron2 does); float images with ``torch.nn.functional.interpolate``. Segmentation maps
    and masks always use nearest-neighbour sampling at PIL's sampling positions.

    Args:
        h, w: input size in pixels.
        new_h, new_w: output size in pixels.
        interp: a PIL resampling filter for images (default ``Image.BILINEAR``).
    """

    def __init__(self, h: int, w: int, new_h: int, new_w: int, interp: int | None = None):
        self.h, self.w = int(h), int(w)
        self.new_h, self.new_w = int(new_h), int(new_w)
        self.interp = Image.BILINEAR if interp is None else interp
        if min(self.new_h, self.new_w) <= 0:
            raise ValueError(f"ResizeTransform: output size {(self.new_h, self.new_w)} is empty")

    def _check_input(self, img: np.ndarray) -> None:
        if img.shape[:2] != (self.h, self.w):
            raise ValueError(
                f"ResizeTransform expected an input of size {(self.h, self.w)}, got {img.shape[:2]}"
            )

    def apply_image(self, img: np.ndarray, interp: int | None = None) -> np.ndarray:
        self._check_input(img)
        interp = self.interp if interp is None else interp
        if img.dtype == np.uint8 and (img.ndim == 2 or img.shape[2] in (1, 3, 4)):
            squeeze = img.ndim == 3 and img.shape[2] == 1
            pil = Image.fromarray(img[:, :, 0] if squeeze else img)
            out = np.asarray(pil.resize((self.new_w, self.new_h), interp))
            return out[:, :, None] if squeeze else out
        if interp == Image.NEAREST:
            return self.apply_segmentation(img)
        mode = {Image.BILINEAR: "bilinear", Image.BICUBIC: "bicubic"}.get(interp)
        if mode is None:
            raise ValueError(f"ResizeTransform: interpolation {interp} unsupported for {img.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(img)).float()
        t = t[None, None] if img.ndim == 2 else t.permute(2, 0, 1)[None]
        out = F.interpolate(t, size=(self.new_h, self.new_w), mode=mode, align_corners=False)
        out = out[0, 0] if img.ndim == 2 else out[0].permute(1, 2, 0)
        return out.numpy().astype(img.dtype)

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        self._check_input(segmentation)
        rows = _nearest_indices(self.h, self.new_h)
        cols = _nearest_indices(self.w, self.new_w)
        return np.ascontiguousarray(segmentation[rows[:, None], cols[None, :]])

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        out = np.array(coords, dtype=np.float64, copy=True)
        out[:, 0] *= self.new_w / self.w
        out[:, 1] *= self.new_h / self.h
        return _like_input(out, coords)

    def inverse(self) -> Transform:
        return ResizeTransform(self.new_h, self.new_w, self.h, self.w, self.interp)


def _clip_polygon_to_rect(poly: np.ndarray, x0: float, y0: float, x1: float, y1: float):
    """Sutherland-Hodgman clipping of one polygon to the rectangle [x0, x1] x [y0, y1].

    A concave polygon cut into several pieces comes back as one polygon whose pieces are joined
    by zero-area edges on the rectangle border; it rasterizes to the same area.
    """
    pts = np.asarray(poly, dtype=np.float64)
    # (axis, bound, keep_if_greater): left, right, top, bottom half-planes.
    for axis, bound, keep_greater in ((0, x0, True), (0, x1, False), (1, y0, True), (1, y1, False)):
        if len(pts) == 0:
            break
        cur = pts
        nxt = np.roll(pts, -1, axis=0)
        d_cur = cur[:, axis] - bound
        d_nxt = nxt[:, axis] - bound
        if not keep_greater:
            d_cur, d_nxt = -d_cur, -d_nxt
        inside_cur = d_cur >= 0
        inside_nxt = d_nxt >= 0
        out = []
        for i in range(len(cur)):
            if inside_cur[i]:
                out.append(cur[i])
            if inside_cur[i] != inside_nxt[i]:
                t = d_cur[i] / (d_cur[i] - d_nxt[i])
                out.append(cur[i] + t * (nxt[i] - cur[i]))
        pts = np.asarray(out, dtype=np.float64).reshape(-1, 2)
    return pts


def _signed_area(pts: np.ndarray) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _polygon_area(pts: np.ndarray) -> float:
    return abs(_signed_area(pts))


class CropTransform(Transform):
    """Crop the window [x0, x0 + w) x [y0, y0 + h).

    Args:
        x0, y0: top-left corner of the window in pixels.
        w, h: window size in pixels.
        orig_w, orig_h: size of the input image, only needed by :meth:`inverse`.
    """

    def __init__(
        self,
        x0: int,
        y0: int,
        w: int,
        h: int,
        orig_w: int | None = None,
        orig_h: int | None = None,
    ):
        self.x0, self.y0, self.w, self.h = int(x0), int(y0), int(w), int(h)
        self.orig_w, self.orig_h = orig_w, orig_h

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(img[self.y0 : self.y0 + self.h, self.x0 : self.x0 + self.w])

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        out = np.array(coords, dtype=np.float64, copy=True)
        out[:, 0] -= self.x0
        out[:, 1] -= self.y0
        return _like_input(out, coords)

    def apply_polygons(self, polygons: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for poly in polygons:
            clipped = _clip_polygon_to_rect(
                np.asarray(poly, dtype=np.float64).reshape(-1, 2),
                self.x0,
                self.y0,
                self.x0 + self.w,
                self.y0 + self.h,
            )
            # detectron2 drops pieces that vanish after cropping; COCO needs >= 3 vertices.
            if len(clipped) >= 3 and _polygon_area(clipped) > 0:
                # detectron2 (fvcore) crops with shapely, whose results have a negative signed
                # area; the same orientation keeps vertex lists identical to detectron2's.
                if _signed_area(clipped) > 0:
                    clipped = clipped[::-1]
                out.append(self.apply_coords(clipped))
        return out

    def inverse(self) -> Transform:
        if self.orig_w is None or self.orig_h is None:
            raise ValueError("CropTransform.inverse needs orig_w and orig_h")
        return PadTransform(
            self.x0,
            self.y0,
            self.orig_w - self.x0 - self.w,
            self.orig_h - self.y0 - self.h,
            orig_w=self.w,
            orig_h=self.h,
        )


class PadTransform(Transform):
    """Pad x0/y0 pixels on the left/top and x1/y1 on the right/bottom.

    Args:
        x0, y0, x1, y1: padding amounts in pixels.
        orig_w, orig_h: input size, only needed by :meth:`inverse`.
        pad_value: fill value for images.
        seg_pad_value: fill value for segmentation maps (use the ignore label) and masks.
    """

    def __init__(
        self,
        x0: int,
        y0: int,
        x1: int,
        y1: int,
        orig_w: int | None = None,
        orig_h: int | None = None,
        pad_value: float = 0.0,
        seg_pad_value: int = 0,
    ):
        self.x0, self.y0, self.x1, self.y1 = int(x0), int(y0), int(x1), int(y1)
        self.orig_w, self.orig_h = orig_w, orig_h
        self.pad_value = pad_value
        self.seg_pad_value = seg_pad_value

    def _pad(self, img: np.ndarray, value) -> np.ndarray:
        widths = [(self.y0, self.y1), (self.x0, self.x1)] + [(0, 0)] * (img.ndim - 2)
        return np.pad(img, widths, mode="constant", constant_values=value)

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        return self._pad(img, self.pad_value)

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        value = False if segmentation.dtype == bool else self.seg_pad_value
        return self._pad(segmentation, value)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        out = np.array(coords, dtype=np.float64, copy=True)
        out[:, 0] += self.x0
        out[:, 1] += self.y0
        return _like_input(out, coords)

    def inverse(self) -> Transform:
        if self.orig_w is None or self.orig_h is None:
            raise ValueError("PadTransform.inverse needs orig_w and orig_h")
        new_w = self.orig_w + self.x0 + self.x1
        new_h = self.orig_h + self.y0 + self.y1
        return CropTransform(self.x0, self.y0, self.orig_w, self.orig_h, new_w, new_h)


class ColorTransform(Transform):
    """A pixel-value operation on the image only; geometry and labels are untouched.

    Args:
        op: maps an image ndarray[H, W, C] to an image of the same shape. Use a named function
            or a picklable object so that data-loader workers can receive it.
    """

    def __init__(self, op: Callable[[np.ndarray], np.ndarray]):
        if not callable(op):
            raise TypeError(f"ColorTransform expects a callable, got {type(op)}")
        self.op = op

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        return self.op(img)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return coords

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return segmentation

    def apply_polygons(self, polygons: list[np.ndarray]) -> list[np.ndarray]:
        return polygons
