import math

import pytest
import torch

from det.modeling.anchor_generator import DefaultAnchorGenerator, generate_cell_anchors


def test_cell_anchors_by_hand():
    anchors = generate_cell_anchors(sizes=[32], aspect_ratios=[0.5, 1.0, 2.0])
    # area 1024; ratio 0.5: w = sqrt(2048), h = w / 2; ratio 2: w = sqrt(512), h = 2 w.
    a, b = math.sqrt(2048) / 2, math.sqrt(512) / 2
    expected = torch.tensor([[-a, -b, a, b], [-16, -16, 16, 16], [-b, -a, b, a]])
    torch.testing.assert_close(anchors, expected)


def test_grid_anchors_by_hand():
    gen = DefaultAnchorGenerator(sizes=[[8]], aspect_ratios=[[1.0]], strides=[4], offset=0.0)
    (boxes,) = gen([torch.zeros(1, 1, 2, 3)])
    # Row-major locations (x, y): (0,0) (4,0) (8,0) (0,4) (4,4) (8,4); one 8x8 anchor each.
    centers = [(0, 0), (4, 0), (8, 0), (0, 4), (4, 4), (8, 4)]
    expected = torch.tensor([[x - 4, y - 4, x + 4, y + 4] for x, y in centers], dtype=torch.float32)
    torch.testing.assert_close(boxes.tensor, expected)

    gen = DefaultAnchorGenerator(sizes=[[8]], aspect_ratios=[[1.0]], strides=[4], offset=0.5)
    (boxes,) = gen([torch.zeros(1, 1, 2, 3)])
    torch.testing.assert_close(boxes.tensor, expected + 2)


def test_multi_level_order_and_broadcast():
    gen = DefaultAnchorGenerator(
        sizes=[[32], [64]], aspect_ratios=[0.5, 1.0, 2.0], strides=[4, 8], offset=0.0
    )
    assert gen.num_anchors == [3, 3] and gen.num_cell_anchors == [3, 3]
    feats = [torch.zeros(2, 1, 4, 5), torch.zeros(2, 1, 2, 3)]
    anchors = gen(feats)
    assert [len(a) for a in anchors] == [4 * 5 * 3, 2 * 3 * 3]
    # Location-major, cell anchor minor: anchors 3..5 are location (x=4, y=0) on level 0.
    torch.testing.assert_close(
        anchors[0].tensor[3:6], generate_cell_anchors([32]) + torch.tensor([4.0, 0, 4, 0])
    )
    # Level 1, location (x=8, y=8) is index (1 * 3 + 1) * 3.
    k = (1 * 3 + 1) * 3
    torch.testing.assert_close(anchors[1].tensor[k : k + 3], generate_cell_anchors([64]) + 8.0)


def test_no_state_dict_entries_and_device_follow():
    gen = DefaultAnchorGenerator(
        sizes=[[32], [64], [128], [256], [512]],
        aspect_ratios=[[0.5, 1.0, 2.0]],
        strides=[4, 8, 16, 32, 64],
    )
    assert gen.state_dict() == {}
    gen = gen.to(torch.float64)
    assert all(c.dtype == torch.float64 for c in gen.cell_anchors)


def test_bad_arguments():
    with pytest.raises(ValueError, match="per-level"):
        DefaultAnchorGenerator(sizes=[[32], [64], [128]], aspect_ratios=[1.0], strides=[4, 8])
    with pytest.raises(ValueError, match="offset"):
        DefaultAnchorGenerator(sizes=[32], aspect_ratios=[1.0], strides=[4], offset=1.0)
    gen = DefaultAnchorGenerator(sizes=[32], aspect_ratios=[1.0], strides=[4, 8])
    with pytest.raises(ValueError, match="feature maps"):
        gen([torch.zeros(1, 1, 2, 2)])


def test_default_offset_centers_anchors_in_their_cell():
    # detectron2's constructor default offset=0.5: with stride 4 the first location is (2, 2).
    # Size 32, ratio 1 gives a 32 x 32 box around it; size 64, ratio 4 gives w = 32, h = 128.
    gen = DefaultAnchorGenerator(sizes=[32, 64], aspect_ratios=[0.25, 1, 4], strides=[4])
    assert gen.offset == 0.5
    anchors = gen([torch.zeros(2, 1, 1, 2)])[0].tensor
    assert anchors.shape == (12, 4)
    torch.testing.assert_close(anchors[1], torch.tensor([-14.0, -14.0, 18.0, 18.0]))
    torch.testing.assert_close(anchors[5], torch.tensor([-14.0, -62.0, 18.0, 66.0]))
    # The second location (x = 6) is the first shifted by one stride.
    torch.testing.assert_close(anchors[6:], anchors[:6] + torch.tensor([4.0, 0.0, 4.0, 0.0]))
