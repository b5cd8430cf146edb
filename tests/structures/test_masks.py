import math

import numpy as np
import pytest
import torch

from det.structures import BitMasks, Boxes, PolygonMasks, ROIMasks, polygons_to_bitmask

# ---------------------------------------------------------------- NumPy references


def _bilinear(img, y, x):
    """Bilinear sample with RoIAlign's border rules (zero outside [-1, size], clamp inside)."""
    h, w = img.shape
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return (
        (1 - ly) * (1 - lx) * img[y0, x0]
        + (1 - ly) * lx * img[y0, x1]
        + ly * (1 - lx) * img[y1, x0]
        + ly * lx * img[y1, x1]
    )


def _roi_align_aligned_ref(img, box, m):
    """RoIAlign (aligned=True, adaptive sampling) of one [H, W] map over one box, float64."""
    x0, y0, x1, y1 = (float(v) - 0.5 for v in box)
    bin_w, bin_h = (x1 - x0) / m, (y1 - y0) / m
    n_w, n_h = math.ceil((x1 - x0) / m), math.ceil((y1 - y0) / m)
    out = np.zeros((m, m))
    for i in range(m):
        for j in range(m):
            acc = 0.0
            for iy in range(n_h):
                yy = y0 + i * bin_h + (iy + 0.5) * bin_h / n_h
                for ix in range(n_w):
                    xx = x0 + j * bin_w + (ix + 0.5) * bin_w / n_w
                    acc += _bilinear(img, yy, xx)
            out[i, j] = acc / max(n_w * n_h, 1)
    return out


def _inside_polygon(px, py, poly):
    """Even-odd rule point-in-polygon for a flat (x0, y0, x1, y1, ...) polygon."""
    xs, ys = poly[0::2], poly[1::2]
    inside = np.zeros(px.shape, dtype=bool)
    for k in range(len(xs)):
        xa, ya, xb, yb = xs[k], ys[k], xs[k - 1], ys[k - 1]
        crosses = (ya > py) != (yb > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = xa + (py - ya) * (xb - xa) / (yb - ya)
        inside ^= crosses & (px < x_at)
    return inside


def _distance_to_edges(px, py, poly):
    xs, ys = poly[0::2], poly[1::2]
    dist = np.full(px.shape, np.inf)
    for k in range(len(xs)):
        ax, ay, bx, by = xs[k - 1], ys[k - 1], xs[k], ys[k]
        dx, dy = bx - ax, by - ay
        t = np.clip(((px - ax) * dx + (py - ay) * dy) / max(dx * dx + dy * dy, 1e-12), 0, 1)
        dist = np.minimum(dist, np.hypot(px - (ax + t * dx), py - (ay + t * dy)))
    return dist


def _polygon_crop_ref(polys, box, m):
    """Sample the M x M grid's pixel centers inside the box; also return their distance (in
    grid pixels) to the nearest polygon edge, where rasterizers legitimately disagree."""
    x0, y0, x1, y1 = box
    sx, sy = m / (x1 - x0), m / (y1 - y0)
    gy, gx = np.meshgrid(np.arange(m) + 0.5, np.arange(m) + 0.5, indexing="ij")
    inside = np.zeros((m, m), dtype=bool)
    dist = np.full((m, m), np.inf)
    for p in polys:
        p = np.asarray(p, dtype=np.float64).copy()
        p[0::2] = (p[0::2] - x0) * sx
        p[1::2] = (p[1::2] - y0) * sy
        inside |= _inside_polygon(gx, gy, p)
        dist = np.minimum(dist, _distance_to_edges(gx, gy, p))
    return inside, dist


# ---------------------------------------------------------------- polygons


def test_polygons_to_bitmask_rectangle_and_empty():
    mask = polygons_to_bitmask([np.array([2, 1, 6, 1, 6, 4, 2, 4], dtype=np.float64)], 6, 8)
    expected = np.zeros((6, 8), dtype=bool)
    expected[1:4, 2:6] = True
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, expected)
    assert not polygons_to_bitmask([], 3, 4).any()


def test_polygon_crop_and_resize_hand_computed():
    # Rectangle x in [2, 6], y in [2, 8]; box [0, 0, 8, 8] -> M=4 grid at half scale.
    pm = PolygonMasks([[[2, 2, 6, 2, 6, 8, 2, 8]]])
    out = pm.crop_and_resize(torch.tensor([[0.0, 0.0, 8.0, 8.0]]), 4)
    expected = torch.zeros(1, 4, 4, dtype=torch.bool)
    expected[0, 1:4, 1:3] = True
    assert out.dtype == torch.bool
    torch.testing.assert_close(out, expected)
    # A box covering only the polygon maps it onto the full grid.
    out = pm.crop_and_resize(torch.tensor([[2.0, 2.0, 6.0, 8.0]]), 5)
    assert out.all()


def test_polygon_crop_and_resize_matches_point_sampling_reference():
    rng = np.random.default_rng(0)
    m = 28
    polys, boxes = [], []
    for _ in range(6):
        n_vert = int(rng.integers(3, 7))
        center = rng.uniform(20, 60, size=2)
        angles = np.sort(rng.uniform(0, 2 * np.pi, size=n_vert))
        radii = rng.uniform(5, 20, size=n_vert)
        poly = np.stack(
            [center[0] + radii * np.cos(angles), center[1] + radii * np.sin(angles)], axis=1
        )
        polys.append([poly.reshape(-1)])
        x0, y0 = rng.uniform(0, 40, size=2)
        boxes.append([x0, y0, x0 + rng.uniform(8, 40), y0 + rng.uniform(8, 40)])
    boxes = torch.tensor(boxes, dtype=torch.float32)
    out = PolygonMasks(polys).crop_and_resize(boxes, m).numpy()
    assert out.shape == (6, m, m)
    for k in range(6):
        ref, dist = _polygon_crop_ref(polys[k], boxes[k].double().numpy(), m)
        # pycocotools only deviates from center sampling within ~0.15 grid pixels of an edge.
        far = dist > 0.25
        np.testing.assert_array_equal(out[k][far], ref[far])
        assert (out[k] != ref).mean() < 0.02


def test_polygon_masks_validation_errors():
    with pytest.raises(ValueError, match="polygon 0 of instance 1 has 5 coordinates"):
        PolygonMasks([[[0, 0, 1, 0, 1, 1]], [[0, 0, 1, 0, 1]]])
    with pytest.raises(ValueError, match="has 4 coordinates"):
        PolygonMasks([[[0, 0, 1, 1]]])
    with pytest.raises(ValueError, match="instance 0 must be a list"):
        PolygonMasks([np.zeros(6)])
    with pytest.raises(ValueError, match="list of lists"):
        PolygonMasks(np.zeros((1, 6)))


def test_polygon_masks_boxes_area_nonempty_indexing_cat():
    tri = [0, 0, 4, 0, 0, 3]  # area 6
    square = [10, 10, 12, 10, 12, 12, 10, 12]  # area 4
    pm = PolygonMasks([[tri, square], [], [torch.tensor(square, dtype=torch.float32)]])
    assert len(pm) == 3 and pm.polygons[2][0].dtype == np.float64
    torch.testing.assert_close(
        pm.get_bounding_boxes().tensor,
        torch.tensor([[0.0, 0.0, 12.0, 12.0], [0.0, 0.0, 0.0, 0.0], [10.0, 10.0, 12.0, 12.0]]),
    )
    torch.testing.assert_close(pm.area(), torch.tensor([10.0, 0.0, 4.0]))
    assert pm.nonempty().tolist() == [True, False, True]
    assert len(pm[0]) == 1 and len(pm[0].polygons[0]) == 2
    assert [len(p) for p in pm[1:]] == [0, 1]
    assert [len(p) for p in pm[[2, 0]]] == [1, 2]
    assert [len(p) for p in pm[torch.tensor([True, False, True])]] == [2, 1]
    assert [len(p) for p in pm[torch.tensor([1])]] == [0]
    assert len(PolygonMasks.cat([pm, pm[:1]])) == 4
    assert pm.to("cpu") is pm


# ---------------------------------------------------------------- bit masks


def _bitmask_example():
    t = torch.zeros(1, 16, 16, dtype=torch.bool)
    t[0, 2:6, 4:12] = True
    return BitMasks(t)


def test_bitmask_crop_and_resize_hand_computed():
    bm = _bitmask_example()
    # Box equal to the foreground region: every sample lands on a foreground pixel.
    out = bm.crop_and_resize(torch.tensor([[4.0, 2.0, 12.0, 6.0]]), 4)
    assert out.dtype == torch.bool and out.all()
    # Whole image on a 4x4 grid: each output pixel averages one 4x4 block (half-full -> True).
    out = bm.crop_and_resize(torch.tensor([[0.0, 0.0, 16.0, 16.0]]), 4)
    expected = torch.tensor([[0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]).bool()
    torch.testing.assert_close(out[0], expected)


def test_bitmask_crop_and_resize_matches_numpy_roi_align():
    g = torch.Generator().manual_seed(0)
    n, h, w, m = 5, 24, 20, 7
    masks = torch.rand(n, h, w, generator=g) > 0.5
    xy = torch.rand(n, 2, generator=g) * 12 - 2
    wh = torch.rand(n, 2, generator=g) * 14 + 2
    boxes = torch.cat([xy, xy + wh], dim=1)
    out = BitMasks(masks).crop_and_resize(boxes, m).numpy()
    for k in range(n):
        soft = _roi_align_aligned_ref(masks[k].double().numpy(), boxes[k].double().tolist(), m)
        decided = np.abs(soft - 0.5) > 1e-5
        np.testing.assert_array_equal(out[k][decided], (soft >= 0.5)[decided])


def test_bitmask_from_polygons_bounding_boxes_and_basics():
    pm = PolygonMasks([[[2, 1, 6, 1, 6, 4, 2, 4]], []])
    bm = BitMasks.from_polygon_masks(pm, 6, 8)
    assert bm.tensor.shape == (2, 6, 8) and bm.image_size == (6, 8)
    np.testing.assert_array_equal(bm.tensor[0].numpy(), polygons_to_bitmask(pm.polygons[0], 6, 8))
    torch.testing.assert_close(
        bm.get_bounding_boxes().tensor, torch.tensor([[2.0, 1.0, 6.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
    )
    assert bm.nonempty().tolist() == [True, False]
    assert bm.area().tolist() == [12, 0]
    assert len(bm[0]) == 1 and len(bm[torch.tensor([False, True])]) == 1
    assert len(BitMasks.cat([bm, bm[1:]])) == 3
    assert BitMasks(np.ones((1, 2, 3), dtype=np.uint8)).tensor.dtype == torch.bool
    assert len(BitMasks.from_polygon_masks([], 4, 4)) == 0
    empty = BitMasks(torch.zeros(0, 4, 4)).crop_and_resize(torch.zeros(0, 4), 3)
    assert empty.shape == (0, 3, 3)
    with pytest.raises(ValueError, match=r"Tensor\[N, H, W\]"):
        BitMasks(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="2 boxes for 1 masks"):
        bm[:1].crop_and_resize(torch.zeros(2, 4), 3)


def test_bitmask_boxes_agree_with_polygon_boxes():
    pm = PolygonMasks([[[1, 2, 9, 2, 9, 7, 1, 7]]])
    poly_boxes = pm.get_bounding_boxes()
    bit_boxes = BitMasks.from_polygon_masks(pm, 10, 12).get_bounding_boxes()
    assert isinstance(bit_boxes, Boxes)
    torch.testing.assert_close(bit_boxes.tensor, poly_boxes.tensor)


def test_roi_masks_container():
    rm = ROIMasks(torch.rand(3, 5, 5))
    assert len(rm) == 3 and len(rm[0]) == 1 and len(rm[1:]) == 2
    assert rm.to(torch.float64).tensor.dtype == torch.float64
    with pytest.raises(ValueError, match=r"Tensor\[N, M, M\]"):
        ROIMasks(torch.rand(5, 5))


def test_roi_masks_to_bitmasks_pastes_into_box():
    rm = ROIMasks(torch.ones(1, 4, 4))
    bm = rm.to_bitmasks(torch.tensor([[2.0, 3.0, 6.0, 5.0]]), 8, 10)
    expected = torch.zeros(1, 8, 10, dtype=torch.bool)
    expected[0, 3:5, 2:6] = True
    torch.testing.assert_close(bm.tensor, expected)


def test_bitmask_bounding_boxes_random_against_numpy():
    g = torch.Generator().manual_seed(1)
    masks = torch.rand(12, 9, 13, generator=g) > 0.97
    masks[4] = False
    boxes = BitMasks(masks).get_bounding_boxes().tensor.numpy()
    for k, m in enumerate(masks.numpy()):
        ys, xs = np.nonzero(m)
        expected = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] if len(xs) else [0, 0, 0, 0]
        np.testing.assert_array_equal(boxes[k], np.asarray(expected, dtype=np.float32))


def test_masks_as_instances_fields():
    from det.structures import Instances

    pm = PolygonMasks([[[0, 0, 4, 0, 0, 3]], [[1, 1, 3, 1, 3, 3]]])
    a = Instances((8, 8), gt_masks=pm, bit=BitMasks.from_polygon_masks(pm, 8, 8))
    c = Instances.cat([a, a[1]])
    assert len(c) == 3 and isinstance(c.gt_masks, PolygonMasks)
    assert isinstance(c.bit, BitMasks) and c.bit.tensor.shape == (3, 8, 8)
    assert torch.equal(c.bit.tensor[2], a.bit.tensor[1])


def test_empty_polygon_list_and_bool_tensor_indexing():
    assert BitMasks.from_polygon_masks([], 100, 100).tensor.shape == (0, 100, 100)
    masks = BitMasks(torch.ones(3, 10, 10))
    assert masks[1].tensor.shape == (1, 10, 10)
    assert masks[1:3].tensor.shape == (2, 10, 10)
    assert masks[torch.tensor([True, False, False])].tensor.shape == (1, 10, 10)


@pytest.mark.parametrize("d", [5.0, 10.0, 1000.0])
def test_polygon_area_square_and_triangle_exact(d):
    # Shoelace areas are exact in float64 for these vertices: d^2 and d^2 / 2.
    assert PolygonMasks([[[0, 0, 0, d, d, d, d, 0]]]).area()[0] == d**2
    assert PolygonMasks([[[0, 0, 0, d, d, d]]]).area()[0] == d**2 / 2


def test_box_polygon_rasterizes_back_to_the_same_box():
    # A rectangle polygon through pixel edges covers exactly the pixels of its box, so BitMasks
    # and PolygonMasks give the box back; an empty mask gives [0, 0, 0, 0].
    for box in ([1.0, 0.0, 4.0, 4.0], [1.0, 1.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]):
        x0, y0, x1, y1 = box
        poly = np.array([x0, y0, x1, y0, x1, y1, x0, y1])
        bitmask = polygons_to_bitmask([poly], 4, 4)
        assert BitMasks(bitmask[None]).get_bounding_boxes().tensor[0].tolist() == box
        assert PolygonMasks([[poly]]).get_bounding_boxes().tensor[0].tolist() == box
