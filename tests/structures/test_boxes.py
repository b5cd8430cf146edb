import json
import math

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from det.structures import (
    Boxes,
    BoxMode,
    matched_pairwise_iou,
    pairwise_intersection,
    pairwise_ioa,
    pairwise_iou,
)


def _random_boxes(n, size=50.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * size
    wh = torch.rand(n, 2, generator=g) * size / 2 + 0.5
    return torch.cat([xy, xy + wh], dim=1)


def test_pairwise_iou_hand_computed():
    a = Boxes([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]])
    b = Boxes(
        [
            [5, 5, 15, 15],  # inter 25, union 175
            [10, 0, 20, 10],  # touching edge: no overlap
            [2, 2, 4, 4],  # contained: inter 4, union 100
            [30, 30, 40, 40],  # far away
        ]
    )
    iou = pairwise_iou(a, b)
    expected_row = torch.tensor([25 / 175, 0.0, 4 / 100, 0.0])
    assert iou.shape == (3, 4)
    for row in iou:
        torch.testing.assert_close(row, expected_row)
    inter = pairwise_intersection(a[:1], b)
    torch.testing.assert_close(inter, torch.tensor([[25.0, 0.0, 4.0, 0.0]]))


def test_pairwise_iou_zero_area_boxes_give_zero_not_nan():
    zero = Boxes([[3, 3, 3, 3], [1, 1, 5, 1]])
    iou = pairwise_iou(zero, zero)
    assert torch.isfinite(iou).all()
    torch.testing.assert_close(iou, torch.zeros(2, 2))
    full = Boxes([[0, 0, 10, 10]])
    torch.testing.assert_close(pairwise_iou(zero, full), torch.zeros(2, 1))
    torch.testing.assert_close(pairwise_ioa(full, zero), torch.zeros(1, 2))


def test_pairwise_iou_matches_torchvision_on_random_boxes():
    b1, b2 = _random_boxes(17, seed=1), _random_boxes(11, seed=2)
    torch.testing.assert_close(pairwise_iou(Boxes(b1), Boxes(b2)), box_iou(b1, b2))


def test_pairwise_ioa_hand_computed():
    big = Boxes([[0, 0, 10, 10]])
    small = Boxes([[2, 2, 4, 4], [8, 8, 12, 12]])
    # ioa divides by the area of the *second* argument.
    torch.testing.assert_close(pairwise_ioa(big, small), torch.tensor([[1.0, 4 / 16]]))
    torch.testing.assert_close(pairwise_ioa(small, big), torch.tensor([[0.04], [0.04]]))


def test_matched_pairwise_iou():
    a = Boxes([[0, 0, 10, 10], [0, 0, 2, 2], [1, 1, 1, 1]])
    b = Boxes([[5, 5, 15, 15], [4, 4, 6, 6], [1, 1, 1, 1]])
    torch.testing.assert_close(matched_pairwise_iou(a, b), torch.tensor([25 / 175, 0.0, 0.0]))
    r1, r2 = Boxes(_random_boxes(9, seed=3)), Boxes(_random_boxes(9, seed=4))
    torch.testing.assert_close(matched_pairwise_iou(r1, r2), pairwise_iou(r1, r2).diagonal())
    with pytest.raises(ValueError, match="equal length"):
        matched_pairwise_iou(a, b[:2])


def test_clip_to_image():
    boxes = Boxes([[-5.0, -3.0, 25.0, 12.0], [2.0, 3.0, 4.0, 5.0], [30.0, 1.0, 40.0, 2.0]])
    boxes.clip((10, 20))  # (height, width)
    expected = torch.tensor([[0.0, 0.0, 20.0, 10.0], [2.0, 3.0, 4.0, 5.0], [20.0, 1.0, 20.0, 2.0]])
    torch.testing.assert_close(boxes.tensor, expected)
    assert boxes.nonempty().tolist() == [True, True, False]
    with pytest.raises(FloatingPointError):
        Boxes([[0.0, 0.0, float("inf"), 1.0]]).clip((5, 5))


def test_area_nonempty_centers_scale_inside():
    boxes = Boxes([[0, 0, 4, 2], [1, 1, 1.5, 3], [5, 5, 4, 6]])
    torch.testing.assert_close(boxes.area(), torch.tensor([8.0, 1.0, -1.0]))
    assert boxes.nonempty().tolist() == [True, True, False]
    assert boxes.nonempty(threshold=0.6).tolist() == [True, False, False]
    torch.testing.assert_close(boxes.get_centers()[0], torch.tensor([2.0, 1.0]))
    # (height, width); x1/y1 must be strictly below the size plus the threshold.
    assert boxes.inside_box((4, 5)).tolist() == [True, True, False]
    assert boxes.inside_box((4, 5), boundary_threshold=2).tolist() == [True, True, False]
    assert boxes.inside_box((4, 5), boundary_threshold=3).tolist() == [True, True, True]
    boxes.scale(2.0, 0.5)
    torch.testing.assert_close(boxes.tensor[0], torch.tensor([0.0, 0.0, 8.0, 1.0]))


def test_construction_indexing_cat():
    assert Boxes([]).tensor.shape == (0, 4)
    assert Boxes(torch.zeros(0)).tensor.shape == (0, 4)
    b = Boxes(np.arange(12, dtype=np.int64).reshape(3, 4))
    assert b.tensor.dtype == torch.float32 and len(b) == 3
    assert b[1].tensor.tolist() == [[4, 5, 6, 7]]
    assert len(b[1:]) == 2
    assert b[torch.tensor([True, False, True])].tensor[:, 0].tolist() == [0, 8]
    assert b[torch.tensor([2, 0])].tensor[:, 0].tolist() == [8, 0]
    assert [t.tolist() for t in b][2] == [8, 9, 10, 11]
    c = Boxes.cat([b, b[:1]])
    assert len(c) == 4 and c.tensor[3].tolist() == [0, 1, 2, 3]
    assert len(Boxes.cat([])) == 0
    cl = b.clone()
    cl.tensor[0, 0] = 100
    assert b.tensor[0, 0] == 0
    assert b.to("cpu").device == torch.device("cpu")
    with pytest.raises(ValueError, match=r"Tensor\[N, 4\]"):
        Boxes(torch.zeros(3, 5))


@pytest.mark.parametrize("kind", ["list", "tuple", "numpy", "tensor"])
def test_boxmode_xywh_xyxy_round_trip(kind):
    raw = [[1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 10.0, 0.0]]
    xyxy_expected = [[1.0, 2.0, 4.0, 6.0], [0.5, 0.5, 10.5, 0.5]]
    if kind == "list":
        box, exp = raw[0], xyxy_expected[0]
    elif kind == "tuple":
        box, exp = tuple(raw[0]), tuple(xyxy_expected[0])
    elif kind == "numpy":
        box, exp = np.array(raw, dtype=np.float32), np.array(xyxy_expected, dtype=np.float32)
    else:
        box, exp = torch.tensor(raw, dtype=torch.float64), torch.tensor(xyxy_expected).double()
    out = BoxMode.convert(box, BoxMode.XYWH_ABS, BoxMode.XYXY_ABS)
    assert type(out) is type(box)
    if kind in ("list", "tuple"):
        assert out == exp
    elif kind == "numpy":
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, exp)
    else:
        assert out.dtype == torch.float64
        torch.testing.assert_close(out, exp)
    back = BoxMode.convert(out, BoxMode.XYXY_ABS, BoxMode.XYWH_ABS)
    np.testing.assert_allclose(np.asarray(back, dtype=np.float64), np.asarray(box, np.float64))
    # The input is not modified in place.
    np.testing.assert_allclose(np.asarray(box, dtype=np.float64).reshape(-1)[:4], raw[0])


def test_boxmode_rotated():
    # A 4x2 box turned by 90 degrees covers 2x4 around its center (10, 10).
    out = BoxMode.convert([10, 10, 4, 2, 90], BoxMode.XYWHA_ABS, BoxMode.XYXY_ABS)
    np.testing.assert_allclose(out, [9, 8, 11, 12], atol=1e-9)
    # 45 degrees: the enclosing box side of a unit-less 2x2 square is 2 * sqrt(2).
    out = BoxMode.convert(np.array([[0.0, 0.0, 2.0, 2.0, 45.0]]), 4, 0)
    s = math.sqrt(2)
    np.testing.assert_allclose(out, [[-s, -s, s, s]], atol=1e-9)
    xywha = BoxMode.convert(torch.tensor([[1.0, 2.0, 5.0, 8.0]]), 0, BoxMode.XYWHA_ABS)
    torch.testing.assert_close(xywha, torch.tensor([[3.0, 5.0, 4.0, 6.0, 0.0]]))
    back = BoxMode.convert(xywha, BoxMode.XYWHA_ABS, BoxMode.XYXY_ABS)
    torch.testing.assert_close(back, torch.tensor([[1.0, 2.0, 5.0, 8.0]]))
    from_xywh = BoxMode.convert([1.0, 2.0, 4.0, 6.0], BoxMode.XYWH_ABS, BoxMode.XYWHA_ABS)
    assert from_xywh == [3.0, 5.0, 4.0, 6.0, 0.0]


def test_boxmode_errors_and_identity():
    box = [1, 2, 3, 4]
    assert BoxMode.convert(box, BoxMode.XYXY_ABS, BoxMode.XYXY_ABS) is box
    assert BoxMode(1) is BoxMode.XYWH_ABS and int(BoxMode.XYWHA_ABS) == 4
    with pytest.raises(NotImplementedError, match="relative"):
        BoxMode.convert(box, BoxMode.XYXY_REL, BoxMode.XYXY_ABS)
    with pytest.raises(ValueError, match="4 or 5"):
        BoxMode.convert([1, 2, 3], BoxMode.XYWH_ABS, BoxMode.XYXY_ABS)
    with pytest.raises(ValueError, match="XYWHA_ABS"):
        BoxMode.convert(torch.zeros(2, 4), BoxMode.XYWHA_ABS, BoxMode.XYXY_ABS)


def test_boxmode_keeps_integer_dtypes_and_python_floats():
    # Integer arrays stay integer (detectron2 converts in the input's dtype); XYXY -> XYWH of
    # [5, 5, 10, 10] is [5, 5, 5, 5] and of [1, 1, 2, 3] is [1, 1, 1, 2].
    expected = [[5, 5, 5, 5], [1, 1, 1, 2]]
    arr = BoxMode.convert(np.array([[5, 5, 10, 10], [1, 1, 2, 3]]), 0, 1)
    assert arr.dtype == np.int64 and arr.tolist() == expected
    ten = BoxMode.convert(torch.tensor([[5, 5, 10, 10], [1, 1, 2, 3]]), 0, 1)
    assert ten.dtype == torch.int64 and ten.tolist() == expected
    for kind in (list, tuple):
        out = BoxMode.convert(kind([5.0, 5.0, 10.0, 10.0]), BoxMode.XYXY_ABS, BoxMode.XYWH_ABS)
        assert type(out) is kind and all(type(v) is float for v in out)
        with pytest.raises(ValueError, match="4 or 5 numbers"):  # a list of boxes is not one box
            BoxMode.convert([kind([5.0, 5.0, 10.0, 10.0])], 0, 1)
    # Modes given as plain ints (as stored in dataset dicts) and JSON round trips.
    assert BoxMode.convert([1, 2, 3, 4], 0, 1) == [1, 2, 2, 2]
    assert json.loads(json.dumps({"mode": BoxMode.XYWH_REL})) == {"mode": 3}
    assert BoxMode(json.loads('{"box_mode": 2}')["box_mode"]) is BoxMode.XYXY_REL


def test_boxes_cat_of_nothing_and_to():
    empty = Boxes.cat([])
    assert isinstance(empty, Boxes) and empty.tensor.shape == (0, 4)
    boxes = Boxes(torch.rand(3, 4))
    moved = boxes.to(device="cpu")
    assert moved.tensor.device.type == "cpu" and torch.equal(moved.tensor, boxes.tensor)
