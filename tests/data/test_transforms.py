"""Deterministic transforms: hand-computed cases, inverses, polygon clipping, HSV vs OpenCV."""

import numpy as np
import pytest
from PIL import Image

from det.data import transforms as T
from det.data.transforms.photometric import hsv_to_rgb_uint8, rgb_to_hsv_uint8
from det.structures import polygons_to_bitmask


def _image(h=6, w=8, c=3):
    return np.arange(h * w * c, dtype=np.uint8).reshape(h, w, c)


def test_hflip_image_coords_box():
    img = _image()
    t = T.HFlipTransform(8)
    np.testing.assert_array_equal(t.apply_image(img), img[:, ::-1])
    np.testing.assert_allclose(t.apply_coords(np.array([[1.0, 2.0]])), [[7.0, 2.0]])
    # Box [1, 2, 3, 5] in an 8-wide image -> [5, 2, 7, 5].
    np.testing.assert_allclose(t.apply_box(np.array([[1, 2, 3, 5]])), [[5, 2, 7, 5]])
    np.testing.assert_array_equal(t.inverse().apply_image(t.apply_image(img)), img)


def test_vflip():
    img = _image()
    t = T.VFlipTransform(6)
    np.testing.assert_array_equal(t.apply_image(img), img[::-1])
    np.testing.assert_allclose(t.apply_box(np.array([[1, 2, 3, 5]])), [[1, 1, 3, 4]])


def test_crop_and_pad_are_inverse():
    img = _image()
    crop = T.CropTransform(2, 1, 4, 3, orig_w=8, orig_h=6)
    out = crop.apply_image(img)
    np.testing.assert_array_equal(out, img[1:4, 2:6])
    np.testing.assert_allclose(crop.apply_coords(np.array([[3.0, 3.0]])), [[1.0, 2.0]])
    back = crop.inverse().apply_image(out)
    assert back.shape == img.shape
    np.testing.assert_array_equal(back[1:4, 2:6], out)
    assert back[0].sum() == 0 and back[:, :2].sum() == 0


def test_pad_values_for_image_and_segmentation():
    pad = T.PadTransform(1, 0, 2, 3, orig_w=8, orig_h=6, pad_value=128, seg_pad_value=255)
    img = pad.apply_image(_image())
    assert img.shape == (9, 11, 3)
    assert (img[6:] == 128).all() and (img[:, 0] == 128).all() and (img[:, -2:] == 128).all()
    seg = pad.apply_segmentation(np.zeros((6, 8), dtype=np.uint8))
    assert seg.shape == (9, 11) and (seg[6:] == 255).all() and (seg[:6, 1:9] == 0).all()
    mask = pad.apply_segmentation(np.ones((6, 8), dtype=bool))
    assert mask.dtype == bool and mask.sum() == 48
    np.testing.assert_allclose(pad.apply_coords(np.array([[0.0, 0.0]])), [[1.0, 0.0]])


def test_resize_coords_and_nearest_matches_pil():
    t = T.ResizeTransform(6, 8, 9, 20)
    np.testing.assert_allclose(
        t.apply_coords(np.array([[8.0, 6.0], [2.0, 3.0]])), [[20, 9], [5, 4.5]]
    )
    rng = np.random.default_rng(0)
    seg = rng.integers(0, 5, size=(6, 8)).astype(np.uint8)
    expected = np.asarray(Image.fromarray(seg).resize((20, 9), Image.NEAREST))
    np.testing.assert_array_equal(t.apply_segmentation(seg), expected)
    # int32 maps take the same sampling positions as PIL does for uint8 maps.
    np.testing.assert_array_equal(t.apply_segmentation(seg.astype(np.int32)), expected)
    img = _image()
    expected_img = np.asarray(Image.fromarray(img).resize((20, 9), Image.BILINEAR))
    np.testing.assert_array_equal(t.apply_image(img), expected_img)
    assert t.apply_image(img.astype(np.float32)).shape == (9, 20, 3)
    with pytest.raises(ValueError, match="expected an input of size"):
        t.apply_image(np.zeros((5, 5, 3), np.uint8))


def test_transform_list_flattens_and_inverts():
    tl = T.TransformList(
        [T.HFlipTransform(8), T.TransformList([T.CropTransform(0, 0, 4, 4, 8, 6)])]
    )
    assert len(tl) == 2
    pts = np.array([[1.0, 1.0]])
    np.testing.assert_allclose(tl.apply_coords(pts), [[7.0, 1.0]])
    np.testing.assert_allclose(tl.inverse().apply_coords(tl.apply_coords(pts)), pts)


def test_crop_clips_polygons_to_window():
    crop = T.CropTransform(10, 10, 20, 20)
    # Square [0, 40]^2 covers the whole window -> the window's square [0, 20]^2.
    (poly,) = crop.apply_polygons([np.array([[0, 0], [40, 0], [40, 40], [0, 40]], float)])
    assert poly.min(0).tolist() == [0, 0] and poly.max(0).tolist() == [20, 20]
    # A polygon entirely outside disappears.
    assert crop.apply_polygons([np.array([[0, 0], [5, 0], [5, 5]], float)]) == []


def test_crop_polygon_rasterizes_like_cropped_mask():
    # A concave "U" shape whose arms leave the crop window: clipped polygons must rasterize to
    # the crop of the full mask.
    u = np.array(
        [[5, 5], [45, 5], [45, 45], [35, 45], [35, 15], [15, 15], [15, 45], [5, 45]], float
    )
    full = polygons_to_bitmask([u.reshape(-1)], 50, 50)
    crop = T.CropTransform(8, 0, 34, 30)
    clipped = crop.apply_polygons([u])
    got = polygons_to_bitmask([p.reshape(-1) for p in clipped], 30, 34)
    expected = crop.apply_segmentation(full)
    assert (got != expected).sum() <= 0.02 * expected.sum()


def test_apply_box_of_rotation_free_transforms_is_exact_bbox():
    t = T.TransformList([T.ResizeTransform(10, 10, 20, 30), T.HFlipTransform(30)])
    np.testing.assert_allclose(t.apply_box(np.array([[1, 2, 4, 6]])), [[18, 4, 27, 12]])


def test_rgb_to_hsv_matches_opencv_exactly():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(300, 300, 3), dtype=np.uint8)
    rgb[0, :6] = [[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [7, 7, 9]]
    np.testing.assert_array_equal(rgb_to_hsv_uint8(rgb), cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV))


def _cv2_scalar(cv2, img, code):
    # A width-1 image takes OpenCV's scalar path, which rounds like OpenCV 4's SIMD path did;
    # OpenCV 5's SIMD HSV->RGB truncates instead.
    return cv2.cvtColor(np.ascontiguousarray(img).reshape(-1, 1, 3), code).reshape(img.shape)


def test_hsv_to_rgb_matches_opencv_up_to_rare_ties():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(2)
    size = (300, 300)
    hsv = np.stack(
        [rng.integers(0, 180, size), rng.integers(0, 256, size), rng.integers(0, 256, size)], -1
    ).astype(np.uint8)
    ref = _cv2_scalar(cv2, hsv, cv2.COLOR_HSV2RGB)
    diff = np.abs(hsv_to_rgb_uint8(hsv).astype(int) - ref.astype(int))
    assert diff.max() <= 1
    assert (diff > 0).any(-1).mean() < 1e-3  # float32 ties at exactly .5 may round either way


def _mmseg_photometric_reference(img_bgr, cv2):
    """mmseg's PhotoMetricDistortion.__call__ written out with OpenCV, drawing from np.random."""
    r = np.random

    def convert(x, alpha=1.0, beta=0.0):
        return np.clip(x.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)

    img = img_bgr
    if r.randint(2):
        img = convert(img, beta=r.uniform(-32, 32))
    mode = r.randint(2)
    if mode == 1 and r.randint(2):
        img = convert(img, alpha=r.uniform(0.5, 1.5))
    if r.randint(2):
        hsv = _cv2_scalar(cv2, img, cv2.COLOR_BGR2HSV)
        hsv[:, :, 1] = convert(hsv[:, :, 1], alpha=r.uniform(0.5, 1.5))
        img = _cv2_scalar(cv2, hsv, cv2.COLOR_HSV2BGR)
    if r.randint(2):
        hsv = _cv2_scalar(cv2, img, cv2.COLOR_BGR2HSV)
        hsv[:, :, 0] = (hsv[:, :, 0].astype(int) + r.randint(-18, 18)) % 180
        img = _cv2_scalar(cv2, hsv, cv2.COLOR_HSV2BGR)
    if mode == 0 and r.randint(2):
        img = convert(img, alpha=r.uniform(0.5, 1.5))
    return img


@pytest.mark.parametrize("image_format", ["RGB", "BGR"])
def test_photometric_distortion_matches_mmseg_reference(image_format):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    aug = T.PhotometricDistortion(image_format=image_format)
    for seed in range(12):
        np.random.seed(seed)
        out = aug.get_transform(img).apply_image(img)
        np.random.seed(seed)
        ref_in = img[..., ::-1] if image_format == "RGB" else img
        ref = _mmseg_photometric_reference(np.ascontiguousarray(ref_in), cv2)
        ref = ref[..., ::-1] if image_format == "RGB" else ref
        diff = np.abs(out.astype(int) - ref.astype(int))
        # Identical draws and arithmetic; only OpenCV's rare HSV->RGB tie rounding may differ.
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01, (seed, diff.max())


def test_photometric_distortion_probabilities():
    img = np.full((2, 2, 3), 100, np.uint8)
    aug = T.PhotometricDistortion()
    np.random.seed(0)
    tfms = [aug.get_transform(img) for _ in range(2000)]
    for name in ("brightness_beta", "contrast_alpha", "saturation_alpha", "hue_delta"):
        frac = np.mean([getattr(t, name) is not None for t in tfms])
        assert 0.45 < frac < 0.55, (name, frac)
    assert 0.45 < np.mean([t.contrast_first for t in tfms]) < 0.55
    hues = [t.hue_delta for t in tfms if t.hue_delta is not None]
    assert min(hues) == -18 and max(hues) == 17  # NumPy randint excludes the upper bound


def _mmseg_random_crop_reference(seg, crop, cat_max_ratio, ignore):
    """mmseg RandomCrop: a window, then up to 10 re-draws while the category constraint fails."""

    def window():
        off_h = np.random.randint(0, max(seg.shape[0] - crop[0], 0) + 1)
        off_w = np.random.randint(0, max(seg.shape[1] - crop[1], 0) + 1)
        return off_h, off_w

    box = window()
    for _ in range(10):
        tmp = seg[box[0] : box[0] + crop[0], box[1] : box[1] + crop[1]]
        labels, cnt = np.unique(tmp, return_counts=True)
        cnt = cnt[labels != ignore]
        if len(cnt) > 1 and np.max(cnt) / np.sum(cnt) < cat_max_ratio:
            break
        box = window()
    return box


def test_category_area_crop_matches_mmseg_reference():
    seg = np.zeros((60, 90), np.uint8)
    seg[:, 70:] = 1  # a minority class on the right
    seg[50:] = 255
    aug = T.RandomCrop_CategoryAreaConstraint("absolute", (30, 30), 0.75, ignored_category=255)
    accepted = 0
    for seed in range(30):
        np.random.seed(seed)
        expected = _mmseg_random_crop_reference(seg, (30, 30), 0.75, 255)
        np.random.seed(seed)
        crop = aug.get_transform(np.zeros((60, 90, 3), np.uint8), seg)
        assert (crop.y0, crop.x0) == expected
        window = seg[crop.y0 : crop.y0 + 30, crop.x0 : crop.x0 + 30]
        valid = window[window != 255]
        accepted += len(np.unique(valid)) > 1 and np.bincount(valid).max() < 0.75 * valid.size
    assert accepted >= 25  # the constraint is met almost always, unlike a plain random crop
    # With a max area of 1.0 the constraint is off: a single plain draw.
    np.random.seed(0)
    plain = T.RandomCrop_CategoryAreaConstraint("absolute", (30, 30), 1.0).get_transform(
        np.zeros((60, 90, 3), np.uint8), seg
    )
    np.random.seed(0)
    assert (plain.y0, plain.x0) == (np.random.randint(31), np.random.randint(61))


def test_resize_ratio_range_matches_mmseg_formula():
    aug = T.ResizeRatioRange((2048, 512), (0.5, 2.0))
    for shape in [(375, 500), (600, 400), (1000, 3000)]:
        for seed in range(5):
            np.random.seed(seed)
            tfm = aug.get_transform(np.zeros((*shape, 3), np.uint8))
            np.random.seed(seed)
            r = np.random.random_sample() * 1.5 + 0.5
            long_edge, short_edge = int(2048 * r), int(512 * r)
            h, w = shape
            s = min(long_edge / max(h, w), short_edge / min(h, w))
            assert (tfm.new_h, tfm.new_w) == (int(h * s + 0.5), int(w * s + 0.5))


def test_resize_shortest_edge_sizes():
    aug = T.ResizeShortestEdge(800, max_size=1333)
    tfm = aug.get_transform(np.zeros((480, 640, 3), np.uint8))
    assert (tfm.new_h, tfm.new_w) == (800, 1067)  # 640 * 800 / 480 = 1066.67
    tfm = aug.get_transform(np.zeros((300, 1000, 3), np.uint8))
    assert (tfm.new_h, tfm.new_w) == (400, 1333)  # long side capped: 300 * 1333 / 1000 = 399.9
    choice = T.ResizeShortestEdge((10, 20), sample_style="choice")
    np.random.seed(0)
    sizes = {
        min(choice.get_transform(np.zeros((50, 60, 3), np.uint8)).new_h, 99) for _ in range(40)
    }
    assert sizes == {10, 20}
    with pytest.raises(ValueError, match="sample_style"):
        T.ResizeShortestEdge(10, sample_style="uniform")


def test_random_flip_probability():
    aug = T.RandomFlip(prob=0.3)
    np.random.seed(0)
    img = np.zeros((4, 4, 3), np.uint8)
    flips = [isinstance(aug.get_transform(img), T.HFlipTransform) for _ in range(4000)]
    assert abs(np.mean(flips) - 0.3) < 0.03
    with pytest.raises(ValueError, match="exactly one"):
        T.RandomFlip(horizontal=True, vertical=True)
