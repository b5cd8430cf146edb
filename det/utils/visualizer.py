"""Draw detections, segmentations and dataset annotations on images (Pillow, no OpenCV).

Glossary: H x W is the original image size, S the drawing scale (the canvas is round(S*H) x
round(S*W)), D the number of instances, K the number of classes. Images are RGB uint8 arrays.

The class names and colors come from dataset metadata (``thing_classes`` / ``thing_colors`` for
instances, ``stuff_classes`` / ``stuff_colors`` for semantic segmentation); without metadata the
class index is printed and a fixed palette is used.

Example::

    vis = Visualizer(image_rgb, MetadataCatalog.get("coco_2017_val"))
    vis.draw_instance_predictions(outputs["instances"].to("cpu")).save("out.png")
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter, ImageFont

__all__ = ["VisImage", "Visualizer"]

_XYWH_ABS = 1  # BoxMode.XYWH_ABS; an int because dataset dicts may store the plain value
_IGNORE_LABEL = 255
_LEGEND_SWATCH = 12


class VisImage:
    """The canvas a :class:`Visualizer` draws on.

    Args:
        img (ndarray[H, W, 3]): RGB uint8 image.
        scale: the canvas is the image resized by this factor.
    """

    def __init__(self, img: np.ndarray, scale: float = 1.0) -> None:
        self.scale = float(scale)
        self.height, self.width = int(img.shape[0]), int(img.shape[1])
        canvas = Image.fromarray(img).convert("RGBA")
        size = (max(1, round(self.width * scale)), max(1, round(self.height * scale)))
        self.canvas = canvas.resize(size, Image.BILINEAR) if size != canvas.size else canvas

    def get_image(self) -> np.ndarray:
        """Returns the drawing as an RGB uint8 ndarray[round(S*H), round(S*W) (+ legend), 3]."""
        return np.asarray(self.canvas.convert("RGB"))

    def save(self, path: str) -> None:
        """Writes the drawing to ``path`` (format from the extension, e.g. ``.png``)."""
        self.canvas.convert("RGB").save(path)


def _palette(n: int) -> list[tuple[int, int, int]]:
    # Golden-ratio hue steps: neighbouring class ids get clearly different colors.
    out = []
    for i in range(n):
        r, g, b = colorsys.hsv_to_rgb((0.1 + i * 0.618034) % 1.0, 0.75, 0.95)
        out.append((round(r * 255), round(g * 255), round(b * 255)))
    return out


def _jitter(color: tuple[int, int, int], index: int) -> tuple[int, int, int]:
    # Same-class instances next to each other stay distinguishable; deterministic per index.
    if index == 0:
        return color
    rng = np.random.default_rng(index)
    shift = rng.uniform(-40, 40, size=3)
    return tuple(int(np.clip(c + s, 0, 255)) for c, s in zip(color, shift))


def _text_color(background: tuple[int, int, int]) -> tuple[int, int, int]:
    luminance = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2]
    return (0, 0, 0) if luminance > 150 else (255, 255, 255)


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


class Visualizer:
    """Draws predictions or annotations on one image.

    Each ``draw_*`` call draws on the same canvas and returns it (a :class:`VisImage`).

    Args:
        img_rgb (ndarray[H, W, 3]): the image, RGB uint8 (a float image in [0, 255] is
            clipped and converted).
        metadata: dataset metadata (``det.data.Metadata``) or None.
        scale: drawing scale S (e.g. 2.0 to make small images readable).
    """

    def __init__(self, img_rgb: np.ndarray, metadata: Any = None, scale: float = 1.0) -> None:
        img = _to_numpy(img_rgb)
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        if img.ndim != 3 or img.shape[2] not in (3, 4):
            raise ValueError(f"Visualizer expects an RGB image [H, W, 3], got shape {img.shape}")
        self.img = np.clip(img[:, :, :3], 0, 255).astype(np.uint8)
        self.metadata = metadata
        self.output = VisImage(self.img, scale=scale)
        self._font = ImageFont.load_default(size=max(9, round(10 * scale)))
        self._line_width = max(1, round(2 * scale))

    # ------------------------------------------------------------------ metadata lookups
    def _meta(self, key: str) -> list | None:
        if self.metadata is None:
            return None
        value = self.metadata.get(key) if hasattr(self.metadata, "get") else None
        return list(value) if value is not None else None

    def _class_colors(self, key: str, num: int) -> list[tuple[int, int, int]]:
        colors = self._meta(key)
        if colors is None or len(colors) < num:
            return _palette(num)
        return [tuple(int(c) for c in color) for color in colors]

    # ------------------------------------------------------------------ public drawing
    def draw_instance_predictions(self, predictions: Any) -> VisImage:
        """Draws boxes, ``"<class> <score>%"`` labels and translucent masks.

        Args:
            predictions (Instances): at the original image size, with any of ``pred_boxes``
                (Boxes, XYXY absolute pixels), ``scores`` (Tensor[D]), ``pred_classes``
                (Tensor[D], contiguous ids) and ``pred_masks`` (bool Tensor[D, H, W]).
        """
        n = len(predictions)
        boxes = _to_numpy(predictions.pred_boxes.tensor) if predictions.has("pred_boxes") else None
        scores = _to_numpy(predictions.scores) if predictions.has("scores") else None
        classes = (
            _to_numpy(predictions.pred_classes).astype(int)
            if predictions.has("pred_classes")
            else None
        )
        masks = _to_numpy(predictions.pred_masks) if predictions.has("pred_masks") else None
        labels = [self._label(classes, scores, i) for i in range(n)]
        colors = self._instance_colors(classes, n)
        return self.overlay_instances(boxes=boxes, labels=labels, masks=masks, colors=colors)

    def draw_ground_truth_instances(self, instances: Any) -> VisImage:
        """Draws training targets: boxes, class names and masks.

        Args:
            instances (Instances): at the image's size, with any of ``gt_boxes`` (Boxes, XYXY
                absolute pixels), ``gt_classes`` (Tensor[D]) and ``gt_masks`` (BitMasks,
                PolygonMasks or bool Tensor[D, H, W]).
        """
        n = len(instances)
        h, w = self.output.height, self.output.width
        boxes = _to_numpy(instances.gt_boxes.tensor) if instances.has("gt_boxes") else None
        classes = (
            _to_numpy(instances.gt_classes).astype(int) if instances.has("gt_classes") else None
        )
        masks = None
        if instances.has("gt_masks") and n:
            gt = instances.gt_masks
            if hasattr(gt, "polygons"):  # PolygonMasks: list of polygons per instance
                decoded = [_segmentation_to_mask(p, h, w) for p in gt.polygons]
                masks = np.stack([m if m is not None else np.zeros((h, w), bool) for m in decoded])
            else:
                masks = _to_numpy(getattr(gt, "tensor", gt)).astype(bool)
        labels = [self._label(classes, None, i) for i in range(n)]
        colors = self._instance_colors(classes, n)
        return self.overlay_instances(boxes=boxes, labels=labels, masks=masks, colors=colors)

    def draw_sem_seg(
        self, sem_seg: Any, alpha: float = 0.55, legend: bool = True, min_area: int = 0
    ) -> VisImage:
        """Colors each class region, names it, and (optionally) adds a legend panel on the right.

        Args:
            sem_seg: a label map (int Tensor/ndarray[H, W]; 255 = ignore, not drawn) or class
                scores (Tensor[K, H, W]; the argmax is drawn).
            alpha: opacity of the color overlay.
            legend: append a panel listing the classes present, largest area first.
            min_area: classes covering fewer pixels are neither colored nor listed.
        """
        labels = _to_numpy(sem_seg)
        if labels.ndim == 3:
            labels = labels.argmax(axis=0)
        if labels.shape != (self.output.height, self.output.width):
            raise ValueError(
                f"draw_sem_seg: label map is {labels.shape} but the image is "
                f"{(self.output.height, self.output.width)}"
            )
        labels = labels.astype(np.int64)
        ids, areas = np.unique(labels, return_counts=True)
        keep = (ids != _IGNORE_LABEL) & (ids >= 0) & (areas >= max(1, min_area))
        ids, areas = ids[keep], areas[keep]
        order = np.argsort(-areas, kind="stable")
        ids = ids[order]
        num = int(ids.max()) + 1 if len(ids) else 0
        names = self._meta("stuff_classes")
        colors = self._class_colors("stuff_colors", num)
        entries = []
        for cid in ids.tolist():
            mask = labels == cid
            color = colors[cid]
            self._fill_mask(mask, color, alpha, outline=False)
            name = names[cid] if names is not None and cid < len(names) else str(cid)
            self._draw_text_in_region(mask, name, color)
            entries.append((name, color))
        if legend and entries:
            self.output.canvas = _with_legend(self.output.canvas, entries, self._font)
        return self.output

    def draw_dataset_dict(self, dic: dict) -> VisImage:
        """Draws the annotations of a dataset dict (DESIGN.md's contract).

        Draws ``annotations`` (``bbox`` + ``bbox_mode``, ``category_id`` contiguous,
        ``segmentation`` as polygons or RLE; crowd regions are labeled "(crowd)") and the semantic
        labels of ``sem_seg`` (ndarray/Tensor[H, W]) or ``sem_seg_file_name``.
        """
        annos = dic.get("annotations")
        if annos:
            self._draw_annotations(annos)
        sem_seg = dic.get("sem_seg")
        if sem_seg is None and "sem_seg_file_name" in dic:
            with Image.open(dic["sem_seg_file_name"]) as img:
                sem_seg = np.asarray(img)
            if dic.get("reduce_zero_label", self._meta_flag("reduce_zero_label")):
                sem_seg = sem_seg.astype(np.int64) - 1
                sem_seg[sem_seg < 0] = _IGNORE_LABEL
        if sem_seg is not None:
            self.draw_sem_seg(sem_seg)
        return self.output

    def overlay_instances(
        self,
        *,
        boxes: np.ndarray | None = None,
        labels: Sequence[str] | None = None,
        masks: np.ndarray | None = None,
        colors: Sequence[tuple[int, int, int]] | None = None,
        alpha: float = 0.5,
    ) -> VisImage:
        """Draws instances given as plain arrays (largest first, so small ones stay visible).

        Args:
            boxes (ndarray[D, 4] or None): XYXY absolute pixels of the original image.
            labels: D strings drawn at the top-left corner of each box (or mask).
            masks (ndarray[D, H, W] or None): binary masks at the original image size.
            colors: D RGB colors; default a fixed palette.
            alpha: opacity of the mask fill.
        """
        n = len(boxes) if boxes is not None else (len(masks) if masks is not None else 0)
        if n == 0:
            return self.output
        colors = list(colors) if colors is not None else _palette(n)
        if boxes is not None:
            areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        else:
            areas = masks.reshape(n, -1).sum(axis=1)
        for i in np.argsort(-areas, kind="stable").tolist():
            if masks is not None:
                self._fill_mask(masks[i].astype(bool), colors[i], alpha, outline=True)
            anchor = None
            if boxes is not None:
                self._draw_box(boxes[i], colors[i])
                anchor = (float(boxes[i][0]), float(boxes[i][1]))
            elif masks is not None and masks[i].any():
                ys, xs = np.nonzero(masks[i])
                anchor = (float(xs.min()), float(ys.min()))
            if labels is not None and anchor is not None and labels[i]:
                self._draw_label(anchor, labels[i], colors[i])
        return self.output

    def get_output(self) -> VisImage:
        """Returns the canvas with everything drawn so far."""
        return self.output

    # ------------------------------------------------------------------ helpers
    def _meta_flag(self, key: str) -> bool:
        if self.metadata is None or not hasattr(self.metadata, "get"):
            return False
        return bool(self.metadata.get(key, False))

    def _label(self, classes: np.ndarray | None, scores: np.ndarray | None, i: int) -> str:
        parts = []
        if classes is not None:
            names = self._meta("thing_classes")
            c = int(classes[i])
            parts.append(names[c] if names is not None and 0 <= c < len(names) else str(c))
        if scores is not None:
            parts.append(f"{100 * float(scores[i]):.0f}%")
        return " ".join(parts)

    def _instance_colors(self, classes: np.ndarray | None, n: int) -> list[tuple[int, int, int]]:
        if classes is None:
            return _palette(n)
        num = int(classes.max()) + 1 if n else 0
        base = self._class_colors("thing_colors", num)
        seen: dict[int, int] = {}
        colors = []
        for c in classes.tolist():
            colors.append(_jitter(base[c], seen.get(c, 0)))
            seen[c] = seen.get(c, 0) + 1
        return colors

    def _mask_image(self, mask: np.ndarray) -> Image.Image:
        img = Image.fromarray(mask.astype(np.uint8) * 255, mode="L")
        if img.size != self._image_size():
            img = img.resize(self._image_size(), Image.NEAREST)
        return img

    def _image_size(self) -> tuple[int, int]:
        return (
            round(self.output.width * self.output.scale),
            round(self.output.height * self.output.scale),
        )

    def _fill_mask(
        self, mask: np.ndarray, color: tuple[int, int, int], alpha: float, outline: bool
    ) -> None:
        canvas = self.output.canvas
        mask_img = self._mask_image(mask)
        if mask_img.size != canvas.size:
            # The canvas is wider once a legend was appended; masks cover the image part only.
            padded = Image.new("L", canvas.size, 0)
            padded.paste(mask_img, (0, 0))
            mask_img = padded
        opacity = mask_img.point(lambda v: round(v * alpha))
        canvas.paste(Image.new("RGBA", canvas.size, (*color, 255)), (0, 0), opacity)
        if outline:
            edge = mask_img.filter(ImageFilter.MinFilter(3))
            border = Image.fromarray((np.asarray(mask_img) > 0) & (np.asarray(edge) == 0)).convert(
                "L"
            )
            darker = tuple(max(0, c - 60) for c in color)
            canvas.paste(Image.new("RGBA", canvas.size, (*darker, 255)), (0, 0), border)

    def _draw_box(self, box: np.ndarray, color: tuple[int, int, int]) -> None:
        s = self.output.scale
        x0, y0, x1, y1 = (float(v) * s for v in box)
        draw = ImageDraw.Draw(self.output.canvas)
        draw.rectangle(
            [x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], outline=color, width=self._line_width
        )

    def _draw_label(
        self, anchor: tuple[float, float], text: str, color: tuple[int, int, int]
    ) -> None:
        s = self.output.scale
        draw = ImageDraw.Draw(self.output.canvas)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=self._font)
        tw, th = right - left + 4, bottom - top + 2
        x, y = anchor[0] * s, anchor[1] * s - th
        if y < 0:  # no room above the box: put the label inside it
            y = anchor[1] * s
        x = min(max(0.0, x), max(0.0, self._image_size()[0] - tw))
        draw.rectangle([x, y, x + tw, y + th], fill=color)
        draw.text((x + 2 - left, y + 1 - top), text, fill=_text_color(color), font=self._font)

    def _draw_text_in_region(
        self, mask: np.ndarray, text: str, color: tuple[int, int, int]
    ) -> None:
        # The most interior pixel of the region, so the name sits inside it (scipy is a
        # core dependency, but only this drawing needs it).
        from scipy import ndimage

        dist = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
        y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
        s = self.output.scale
        draw = ImageDraw.Draw(self.output.canvas)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=self._font)
        tx = x * s - (right - left) / 2
        ty = y * s - (bottom - top) / 2
        draw.text((tx - left, ty - top), text, fill=_text_color(color), font=self._font)

    def _draw_annotations(self, annos: list[dict]) -> None:
        h, w = self.output.height, self.output.width
        boxes, masks, classes, labels = [], [], [], []
        names = self._meta("thing_classes")
        for anno in annos:
            x0, y0, a, b = (float(v) for v in anno["bbox"])
            if int(anno.get("bbox_mode", _XYWH_ABS)) == _XYWH_ABS:
                a, b = x0 + a, y0 + b
            boxes.append([x0, y0, a, b])
            c = int(anno.get("category_id", 0))
            classes.append(c)
            name = names[c] if names is not None and 0 <= c < len(names) else str(c)
            labels.append(f"{name} (crowd)" if anno.get("iscrowd", 0) else name)
            masks.append(_segmentation_to_mask(anno.get("segmentation"), h, w))
        has_masks = any(m is not None for m in masks)
        mask_arr = None
        if has_masks:
            mask_arr = np.stack([m if m is not None else np.zeros((h, w), bool) for m in masks])
        colors = self._instance_colors(np.asarray(classes, dtype=int), len(classes))
        self.overlay_instances(
            boxes=np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
            labels=labels,
            masks=mask_arr,
            colors=colors,
        )


def _with_legend(
    canvas: Image.Image, entries: list[tuple[str, tuple[int, int, int]]], font: Any
) -> Image.Image:
    """``canvas`` with a white panel on its right listing ``(name, color)`` entries."""
    probe = ImageDraw.Draw(canvas)
    line_h = max(_LEGEND_SWATCH, probe.textbbox((0, 0), "Ag", font=font)[3]) + 4
    text_w = max(probe.textbbox((0, 0), name, font=font)[2] for name, _ in entries)
    width = _LEGEND_SWATCH + text_w + 16
    height = max(canvas.size[1], line_h * len(entries) + 8)
    out = Image.new("RGBA", (canvas.size[0] + width, height), (255, 255, 255, 255))
    out.paste(canvas, (0, 0))
    draw = ImageDraw.Draw(out)
    x0 = canvas.size[0] + 6
    for k, (name, color) in enumerate(entries):
        y = 4 + k * line_h
        box = [x0, y, x0 + _LEGEND_SWATCH, y + _LEGEND_SWATCH]
        draw.rectangle(box, fill=color, outline=(0, 0, 0))
        draw.text((x0 + _LEGEND_SWATCH + 4, y), name, fill=(0, 0, 0), font=font)
    return out


def _segmentation_to_mask(segm: Any, height: int, width: int) -> np.ndarray | None:
    """A COCO segmentation (polygons, RLE dict, or binary array) as bool ndarray[H, W]."""
    if segm is None:
        return None
    if isinstance(segm, np.ndarray):
        return segm.astype(bool)
    import pycocotools.mask as mask_util

    if isinstance(segm, dict):
        rle = segm
        if isinstance(segm.get("counts"), list):
            rle = mask_util.frPyObjects(segm, *segm["size"])
        return mask_util.decode(rle).astype(bool)
    polygons = [np.asarray(p, dtype=np.float64).ravel().tolist() for p in segm if len(p) >= 6]
    if not polygons:
        return None
    rles = mask_util.frPyObjects(polygons, height, width)
    return mask_util.decode(mask_util.merge(rles)).astype(bool)
