"""Every augmentation keeps boxes, polygons, bitmasks and semantic maps aligned with the image.

A scene has one colored concave object on a gray background; its polygon, bitmask, semantic map
and box describe the same pixels. After an augmentation, each annotation is compared with the
object's pixels found in the transformed image by color.
"""

import numpy as np
import pytest

from det.data import transforms as T
from det.data.augmentation_recipes import (
    build_lsj_augmentation,
    build_mmseg_semseg_augmentation,
    build_mmseg_semseg_test_augmentation,
)
from det.structures import polygons_to_bitmask

H, W = 64, 80
COLOR = np.array([220, 40, 30], np.uint8)
CLASS_ID = 3
# A concave "L" in the middle of the image.
POLYGON = np.array([[22, 14], [58, 14], [58, 26], [36, 26], [36, 50], [22, 50]], np.float64)


def _scene():
    mask = polygons_to_bitmask([POLYGON.reshape(-1)], H, W)
    image = np.full((H, W, 3), 90, np.uint8)
    image[mask] = COLOR
    sem_seg = np.zeros((H, W), np.uint8)
    sem_seg[mask] = CLASS_ID
    sem_seg[:4] = 255  # an ignored band must move with the image too
    box = np.array([[22, 14, 58, 50]], np.float64)
    return image, mask, sem_seg, box


def _iou(a, b):
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else np.logical_and(a, b).sum() / union


def _color_mask(image):
    return np.abs(image.astype(int) - COLOR.astype(int)).sum(-1) < 60


def _apply(augs, seed):
    image, mask, sem_seg, box = _scene()
    np.random.seed(seed)
    aug_input = T.AugInput(image, boxes=box, sem_seg=sem_seg)
    tfm = T.AugmentationList(augs)(aug_input)
    polys = tfm.apply_polygons([POLYGON])
    out_mask = tfm.apply_segmentation(mask)
    return aug_input, tfm, polys, out_mask


CASES = {
    "hflip": lambda: [T.RandomFlip(prob=1.0)],
    "vflip": lambda: [T.RandomFlip(prob=1.0, horizontal=False, vertical=True)],
    "resize": lambda: [T.Resize((37, 51))],
    "shortest_edge_range": lambda: [T.ResizeShortestEdge((40, 90), max_size=120)],
    "shortest_edge_choice": lambda: [
        T.ResizeShortestEdge((32, 48, 96), max_size=200, sample_style="choice")
    ],
    "resize_scale_crop_pad": lambda: [
        T.ResizeScale(0.5, 1.5, 48, 48),
        T.FixedSizeCrop((48, 48), pad=True),
    ],
    "lsj": lambda: build_lsj_augmentation(48),
    "random_crop_absolute": lambda: [T.RandomCrop("absolute", (40, 50))],
    "random_crop_relative_range": lambda: [T.RandomCrop("relative_range", (0.5, 0.5))],
    "ratio_range_resize": lambda: [T.ResizeRatioRange((160, 40), (0.5, 2.0))],
    "category_area_crop": lambda: [
        T.RandomCrop_CategoryAreaConstraint("absolute", (40, 40), 0.75, ignored_category=255)
    ],
    "mmseg_semseg": lambda: build_mmseg_semseg_augmentation(40),
    "mmseg_semseg_test": lambda: build_mmseg_semseg_test_augmentation(40),
    "resize_to_multiple": lambda: [T.ResizeToMultiple(24)],
    "random_apply_flip": lambda: [T.RandomApply(T.HFlipTransform(W), prob=1.0)],
}
# Geometric transforms without interpolation move pixels exactly.
EXACT = {
    "hflip",
    "vflip",
    "random_crop_absolute",
    "random_crop_relative_range",
    "category_area_crop",
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_annotations_follow_the_image(name, seed):
    aug_input, tfm, polys, mask = _apply(CASES[name](), seed)
    image, sem_seg = aug_input.image, aug_input.sem_seg
    h, w = image.shape[:2]
    assert sem_seg.shape == (h, w) and mask.shape == (h, w)

    # The semantic map and the bitmask are resampled identically (nearest).
    np.testing.assert_array_equal(sem_seg == CLASS_ID, mask)
    poly_mask = polygons_to_bitmask([p.reshape(-1) for p in polys], h, w)
    photometric = name == "mmseg_semseg"
    if name in EXACT:
        np.testing.assert_array_equal(_color_mask(image), mask)
        assert _iou(poly_mask, mask) > 0.97
    else:
        # Boundary pixels are blended by bilinear resizing: only compare objects big enough for
        # the boundary not to dominate.
        if mask.sum() >= 100:
            if not photometric:
                assert _iou(_color_mask(image), mask) > 0.8
            assert _iou(poly_mask, mask) > 0.8
    # The ignored band stays where the image's top rows went.
    assert (sem_seg == 255).any() == (
        tfm.apply_segmentation(np.arange(H)[:, None].repeat(W, 1) < 4)
    ).any()

    # The box is the transformed box; once clipped it must contain the visible object.
    box = np.clip(aug_input.boxes[0], 0, [w, h, w, h])
    if mask.any():
        ys, xs = np.nonzero(mask)
        tol = max(h, w) * 0.05 + 1
        assert box[0] <= xs.min() + tol and box[1] <= ys.min() + tol
        assert box[2] >= xs.max() + 1 - tol and box[3] >= ys.max() + 1 - tol
    if name in ("hflip", "vflip", "resize", "resize_to_multiple", "random_apply_flip"):
        # Nothing is cut: the box equals the bounding box of the transformed polygon.
        pts = polys[0]
        np.testing.assert_allclose(box, [*pts.min(0), *pts.max(0)], atol=1e-6)


def test_flip_of_a_known_pixel():
    image, mask, sem_seg, box = _scene()
    aug_input = T.AugInput(image, boxes=box, sem_seg=sem_seg)
    T.RandomFlip(prob=1.0)(aug_input)
    # Box x-range [22, 58] in an 80-wide image becomes [22, 58] -> [80 - 58, 80 - 22].
    np.testing.assert_allclose(aug_input.boxes, [[22, 14, 58, 50]])
    assert (
        aug_input.sem_seg[20, 80 - 1 - 30] == CLASS_ID and aug_input.sem_seg[40, 80 - 1 - 40] == 0
    )


def test_fixed_size_crop_pads_image_and_labels():
    image, _, sem_seg, _ = _scene()
    aug_input = T.AugInput(image, sem_seg=sem_seg)
    np.random.seed(0)
    T.FixedSizeCrop((100, 90), pad=True, pad_value=128, seg_pad_value=255)(aug_input)
    assert aug_input.image.shape == (100, 90, 3)
    assert (aug_input.image[H:] == 128).all() and (aug_input.image[:, W:] == 128).all()
    assert (aug_input.sem_seg[H:] == 255).all() and (aug_input.sem_seg[:, W:] == 255).all()
    np.testing.assert_array_equal(aug_input.sem_seg[:H, :W], sem_seg)


def test_aug_input_rejects_misaligned_sem_seg():
    with pytest.raises(ValueError, match="differs from image shape"):
        T.AugInput(np.zeros((4, 5, 3), np.uint8), sem_seg=np.zeros((5, 4), np.uint8))
