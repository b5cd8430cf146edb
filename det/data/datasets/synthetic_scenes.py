"""Drawing of synthetic scenes whose classes can be learned: one shape and color per class.

Class index ``k`` (position in the list of classes a writer uses) is drawn as shape
``SHAPES[k % 3]`` (circle, square, triangle) in color ``colors[k]`` on a noisy background, so a
small detector or segmenter can tell classes apart from shape and color. Everything is a pure
function of a ``numpy.random.Generator``, hence deterministic given a seed.

Glossary: H, W image height and width; a polygon is a flat list ``[x0, y0, x1, y1, ...]`` in
absolute pixel coordinates.
"""

from __future__ import annotations

import json
import math
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "SHAPES",
    "ShapeObject",
    "shape_polygon",
    "draw_instance_scene",
    "draw_semseg_scene",
    "polygon_mask",
    "mask_to_uncompressed_rle",
    "save_jpeg",
    "save_png",
    "save_json",
    "scene_rng",
    "check_split",
    "check_num_classes",
]

SHAPES = ("circle", "square", "triangle")


@dataclass
class ShapeObject:
    """One drawn object.

    Attributes:
        class_index: index into the writer's class list.
        polygons: polygons of the object (one for a shape, several for a crowd).
        mask (ndarray[H, W] bool): pixels drawn for the object (visible part).
        iscrowd: 1 for a crowd region (a cluster of small shapes annotated as one).
    """

    class_index: int
    polygons: list[list[float]]
    mask: np.ndarray
    iscrowd: int = 0

    def bbox_xywh(self) -> list[float]:
        """Tight box of the mask, XYWH absolute pixels (pixel edges, like COCO's boxes)."""
        ys, xs = np.nonzero(self.mask)
        x0, y0 = float(xs.min()), float(ys.min())
        return [x0, y0, float(xs.max()) + 1.0 - x0, float(ys.max()) + 1.0 - y0]


def shape_polygon(kind: str, cx: float, cy: float, r: float) -> list[float]:
    """Polygon of a shape of "radius" ``r`` centered at ``(cx, cy)``.

    Args:
        kind: one of ``SHAPES``.
        cx, cy: center in pixels.
        r: half the extent of the shape in pixels.

    Returns:
        flat polygon; a circle has 24 vertices, a square 4, a triangle 3.
    """
    if kind == "circle":
        pts = []
        for i in range(24):
            a = 2 * math.pi * i / 24
            pts += [cx + r * math.cos(a), cy + r * math.sin(a)]
    elif kind == "square":
        s = 0.85 * r
        pts = [cx - s, cy - s, cx + s, cy - s, cx + s, cy + s, cx - s, cy + s]
    elif kind == "triangle":
        pts = [cx, cy - r, cx + 0.95 * r, cy + 0.8 * r, cx - 0.95 * r, cy + 0.8 * r]
    else:
        raise ValueError(f"Unknown shape {kind!r}; expected one of {SHAPES}")
    return [round(float(v), 2) for v in pts]


def polygon_mask(polygons: Sequence[Sequence[float]], height: int, width: int) -> np.ndarray:
    """Rasterizes polygons exactly as ``draw_*_scene`` paints them.

    Returns:
        ndarray[H, W] bool.
    """
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for poly in polygons:
        draw.polygon([(poly[i], poly[i + 1]) for i in range(0, len(poly), 2)], fill=1)
    return np.asarray(canvas, dtype=bool)


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    base = rng.integers(150, 230, size=3)
    noise = rng.normal(0.0, 6.0, size=(height, width, 3))
    return np.clip(base[None, None, :] + noise, 0, 255).astype(np.uint8)


def _place(rng, height, width, r, taken, gap=3.0, tries=30):
    """Finds a center for a shape of radius r that does not overlap the boxes in ``taken``."""
    for _ in range(tries):
        cx = rng.uniform(r + 1, width - r - 1)
        cy = rng.uniform(r + 1, height - r - 1)
        box = (cx - r - gap, cy - r - gap, cx + r + gap, cy + r + gap)
        if all(box[2] <= t[0] or t[2] <= box[0] or box[3] <= t[1] or t[3] <= box[1] for t in taken):
            taken.append(box)
            return cx, cy
    return None


def _paint(image: np.ndarray, mask: np.ndarray, color, rng) -> None:
    shade = np.clip(np.asarray(color, dtype=np.float64) + rng.normal(0, 4, size=3), 0, 255)
    image[mask] = shade.astype(np.uint8)


def draw_instance_scene(
    rng: np.random.Generator,
    height: int,
    width: int,
    num_classes: int,
    colors: Sequence[Sequence[int]],
    max_objects: int = 4,
    crowd: bool = False,
) -> tuple[np.ndarray, list[ShapeObject]]:
    """Draws non-overlapping shapes (and optionally one crowd region) on a noisy background.

    Args:
        rng: random generator (the only source of randomness).
        height, width: image size.
        num_classes: classes are drawn from ``range(num_classes)``.
        colors: RGB color per class index.
        max_objects: at most this many single objects (at least one unless 0).
        crowd: also draw a crowd: 3-4 small touching shapes of one class, returned as a single
            object with ``iscrowd=1`` whose mask is their union.

    Returns:
        image (ndarray[H, W, 3] uint8 RGB) and the drawn objects.
    """
    image = _background(rng, height, width)
    objects, taken = [], []
    short = min(height, width)
    num_objects = int(rng.integers(1, max_objects + 1)) if max_objects > 0 else 0
    for _ in range(num_objects):
        k = int(rng.integers(num_classes))
        r = float(rng.uniform(0.09, 0.2) * short)
        center = _place(rng, height, width, r, taken)
        if center is None:
            continue
        poly = shape_polygon(SHAPES[k % 3], center[0], center[1], r)
        mask = polygon_mask([poly], height, width)
        _paint(image, mask, colors[k], rng)
        objects.append(ShapeObject(k, [poly], mask))
    if crowd:
        k = int(rng.integers(num_classes))
        r = 0.05 * short
        center = _place(rng, height, width, 3.2 * r, taken)
        if center is not None:
            polys = []
            for i in range(int(rng.integers(3, 5))):
                a = 2 * math.pi * i / 4 + 0.3
                cx, cy = center[0] + 1.6 * r * math.cos(a), center[1] + 1.6 * r * math.sin(a)
                polys.append(shape_polygon(SHAPES[k % 3], cx, cy, r))
            mask = polygon_mask(polys, height, width)
            _paint(image, mask, colors[k], rng)
            objects.append(ShapeObject(k, polys, mask, iscrowd=1))
    return image, objects


def draw_semseg_scene(
    rng: np.random.Generator,
    height: int,
    width: int,
    num_classes: int,
    colors: Sequence[Sequence[int]],
    max_objects: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Draws a scene for semantic segmentation: two background bands, shapes, an unlabeled patch.

    Args:
        rng: random generator.
        height, width: image size.
        num_classes: classes are drawn from ``range(num_classes)``.
        colors: RGB color per class index.
        max_objects: at most this many shapes over the bands.

    Returns:
        image (ndarray[H, W, 3] uint8 RGB) and labels (ndarray[H, W] int64: class index, or
        -1 for unlabeled pixels).
    """
    image = _background(rng, height, width)
    labels = np.full((height, width), -1, dtype=np.int64)
    split = int(rng.uniform(0.3, 0.7) * height)
    top, bottom = (int(v) for v in rng.choice(num_classes, size=2, replace=num_classes < 2))
    for k, rows in ((top, slice(0, split)), (bottom, slice(split, height))):
        band = np.zeros((height, width), dtype=bool)
        band[rows] = True
        _paint(image, band, colors[k], rng)
        labels[band] = k
    taken = []
    short = min(height, width)
    for _ in range(int(rng.integers(1, max_objects + 1))):
        k = int(rng.integers(num_classes))
        r = float(rng.uniform(0.1, 0.2) * short)
        center = _place(rng, height, width, r, taken)
        if center is None:
            continue
        mask = polygon_mask([shape_polygon(SHAPES[k % 3], *center, r)], height, width)
        _paint(image, mask, colors[k], rng)
        labels[mask] = k
    # An unlabeled (ignored) patch, as every real dataset has some.
    h0, w0 = int(rng.integers(0, height - height // 8)), int(rng.integers(0, width - width // 8))
    patch = (slice(h0, h0 + height // 8), slice(w0, w0 + width // 8))
    image[patch] = 128
    labels[patch] = -1
    return image, labels


def mask_to_uncompressed_rle(mask: np.ndarray) -> dict:
    """Encodes a binary mask as COCO's uncompressed RLE (what real crowd annotations use).

    Args:
        mask (ndarray[H, W] bool).

    Returns:
        ``{"size": [H, W], "counts": [n0, n1, ...]}``: run lengths of the column-major
        flattened mask, starting with a (possibly empty) run of zeros.
    """
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def _atomic_save(img: Image.Image, path: str, **kwargs) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    img.save(tmp, **kwargs)
    os.replace(tmp, path)


def save_jpeg(image: np.ndarray, path: str) -> None:
    """Writes an RGB uint8 array as a JPEG (quality 95), atomically."""
    _atomic_save(
        Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)),
        path,
        format="JPEG",
        quality=95,
    )


def save_png(label: np.ndarray, path: str) -> None:
    """Writes a uint8 label map as a single-channel PNG, atomically."""
    _atomic_save(Image.fromarray(np.ascontiguousarray(label, dtype=np.uint8)), path, format="PNG")


def save_json(obj: object, path: str) -> None:
    """Writes ``obj`` as JSON (UTF-8), atomically, creating the folder if needed."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def scene_rng(seed: int, kind: str, split: str, index: int) -> np.random.Generator:
    """Random generator of one synthetic image.

    One stream per image, so changing ``num_images`` does not change the images already written,
    and different datasets/splits get different images for the same seed.

    Args:
        seed: the writer's seed.
        kind: dataset kind, e.g. ``"coco"``.
        split: split name.
        index: image index in the split.
    """
    return np.random.default_rng([seed, zlib.crc32(f"{kind}/{split}".encode()), index])


def check_split(split: str, known: Sequence[str], writer: str) -> None:
    """Raises ``ValueError`` naming ``writer`` and the known splits if ``split`` is unknown."""
    if split not in known:
        raise ValueError(f"{writer}: unknown split {split!r}; expected one of {sorted(known)}")


def check_num_classes(num_classes: int, categories: Sequence, writer: str) -> None:
    """Raises ``ValueError`` unless ``1 <= num_classes <= len(categories)``."""
    if not 1 <= num_classes <= len(categories):
        raise ValueError(
            f"{writer}: num_classes={num_classes} must be in 1..{len(categories)} (the number "
            "of categories)"
        )
