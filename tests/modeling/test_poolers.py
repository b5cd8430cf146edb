import pytest
import torch
from torchvision.ops import roi_align

from det.modeling.poolers import ROIPooler, assign_boxes_to_levels, convert_boxes_to_pooler_format
from det.structures import Boxes


def _square(size, x0=0.0):
    return [x0, 0.0, x0 + size, size]


def test_level_assignment_by_hand():
    # floor(4 + log2(size / 224)), clamped to [2, 5], minus min_level 2.
    sizes_and_levels = [
        (224, 4),
        (223.9, 3),
        (112, 3),
        (111.9, 2),
        (448, 5),
        (56, 2),
        (10, 2),  # clamped up
        (3000, 5),  # clamped down
    ]
    boxes = Boxes(torch.tensor([_square(s) for s, _ in sizes_and_levels]))
    levels = assign_boxes_to_levels([boxes[:3], boxes[3:]], 2, 5, 224, 4)
    assert levels.dtype == torch.int64
    assert levels.tolist() == [lvl - 2 for _, lvl in sizes_and_levels]


def test_pooler_format():
    a = Boxes(torch.tensor([[1.0, 2, 3, 4], [5, 6, 7, 8]]))
    b = Boxes(torch.zeros(0, 4))
    c = Boxes(torch.tensor([[9.0, 10, 11, 12]]))
    out = convert_boxes_to_pooler_format([a, b, c])
    expected = torch.tensor([[0.0, 1, 2, 3, 4], [0, 5, 6, 7, 8], [2, 9, 10, 11, 12]])
    torch.testing.assert_close(out, expected)


def test_boxes_pooled_from_their_level():
    scales = (1 / 4, 1 / 8, 1 / 16, 1 / 32)
    pooler = ROIPooler(7, scales, sampling_ratio=0, pooler_type="ROIAlignV2")
    # Level l is filled with the constant l + 1, so the output tells which level was used.
    feats = [
        torch.full((2, 3, 256 // s, 256 // s), float(i + 1)) for i, s in enumerate([4, 8, 16, 32])
    ]
    boxes0 = Boxes(torch.tensor([_square(40, 10), _square(224, 10)]))
    boxes1 = Boxes(torch.tensor([_square(120, 5), _square(230, 0), _square(500)]))
    out = pooler(feats, [boxes0, boxes1])
    assert out.shape == (5, 3, 7, 7)
    # sizes 40 -> p2, 224 -> p4, 120 -> p3, 230 -> p4, 500 -> p5 (the box extends past the map,
    # so only check the in-map part is the level's constant).
    levels = [0, 2, 1, 2, 3]
    for k, lvl in enumerate(levels[:4]):
        torch.testing.assert_close(out[k], torch.full((3, 7, 7), float(lvl + 1)))
    assert out[4, :, 0, 0].tolist() == [4.0] * 3


def test_matches_torchvision_roi_align():
    torch.manual_seed(0)
    feats = [torch.randn(2, 4, 32, 32), torch.randn(2, 4, 16, 16)]
    boxes = [
        Boxes(torch.tensor([[3.3, 4.1, 40.2, 50.7]])),
        Boxes(torch.tensor([[10.0, 5, 90, 120]])),
    ]
    for pooler_type, aligned in [("ROIAlignV2", True), ("ROIAlign", False)]:
        pooler = ROIPooler(5, (1 / 4, 1 / 8), sampling_ratio=2, pooler_type=pooler_type)
        out = pooler(feats, boxes)
        # Both boxes go to p2 (scale 1/4): sizes ~42 and ~97, floor(4 + log2(97 / 224)) = 2.
        rois = torch.tensor([[0, 3.3, 4.1, 40.2, 50.7], [1, 10.0, 5, 90, 120]])
        expected = roi_align(
            feats[0], rois, 5, spatial_scale=0.25, sampling_ratio=2, aligned=aligned
        )
        torch.testing.assert_close(out, expected)


def test_empty_and_bad_arguments():
    pooler = ROIPooler((7, 7), (1 / 4, 1 / 8), sampling_ratio=0)
    out = pooler([torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 4, 4)], [Boxes(torch.zeros(0, 4))])
    assert out.shape == (0, 3, 7, 7)
    with pytest.raises(ValueError, match="pooler_type"):
        ROIPooler(7, (1 / 4,), 0, pooler_type="ROIAlignRotated")
    with pytest.raises(ValueError, match="consecutive"):
        ROIPooler(7, (1 / 4, 1 / 16), 0)
    with pytest.raises(ValueError, match="box lists"):
        pooler([torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 4, 4)], [Boxes(torch.zeros(0, 4))])
