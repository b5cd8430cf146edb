import math

import numpy as np
import pytest
import torch

from det.modeling.box_regression import Box2BoxTransform, _dense_box_regression_loss
from det.structures import Boxes
from det.utils.testing import random_boxes


def _random_boxes(n, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 100
    wh = torch.rand(n, 2, generator=g) * 50 + 1
    return torch.cat([xy, xy + wh], dim=1)


def test_deltas_by_hand():
    t = Box2BoxTransform(weights=(1.0, 1.0, 1.0, 1.0))
    src = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    tgt = torch.tensor([[5.0, 5.0, 25.0, 15.0]])
    # Centers (5, 5) -> (15, 10), sizes (10, 10) -> (20, 10).
    torch.testing.assert_close(t.get_deltas(src, tgt), torch.tensor([[1.0, 0.5, math.log(2), 0.0]]))
    t = Box2BoxTransform(weights=(10.0, 10.0, 5.0, 5.0))
    torch.testing.assert_close(
        t.get_deltas(src, tgt), torch.tensor([[10.0, 5.0, 5 * math.log(2), 0.0]])
    )


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
def test_round_trip(weights):
    t = Box2BoxTransform(weights=weights)
    src, tgt = _random_boxes(50, 0), _random_boxes(50, 1)
    deltas = t.get_deltas(src, tgt)
    torch.testing.assert_close(t.apply_deltas(deltas, src), tgt, rtol=1e-5, atol=1e-3)
    # K = 2 sets of class-specific deltas per box.
    two = t.apply_deltas(torch.cat([deltas, torch.zeros_like(deltas)], dim=1), src)
    assert two.shape == (50, 8)
    torch.testing.assert_close(two[:, :4], tgt, rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(two[:, 4:], src, rtol=1e-5, atol=1e-4)


def test_scale_clamp():
    t = Box2BoxTransform(weights=(1.0, 1.0, 1.0, 1.0))
    box = torch.tensor([[0.0, 0.0, 16.0, 16.0]])
    out = t.apply_deltas(torch.tensor([[0.0, 0.0, 100.0, 100.0]]), box)
    # exp(log(1000 / 16)) * 16 = 1000, centered on (8, 8).
    torch.testing.assert_close(out, torch.tensor([[-492.0, -492.0, 508.0, 508.0]]))


def _giou_loss_numpy(a, b):
    ix0, iy0 = np.maximum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])
    ix1, iy1 = np.minimum(a[:, 2], b[:, 2]), np.minimum(a[:, 3], b[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])
    union = area(a) + area(b) - inter
    cx0, cy0 = np.minimum(a[:, 0], b[:, 0]), np.minimum(a[:, 1], b[:, 1])
    cx1, cy1 = np.maximum(a[:, 2], b[:, 2]), np.maximum(a[:, 3], b[:, 3])
    hull = (cx1 - cx0) * (cy1 - cy0)
    return (1 - (inter / union - (hull - union) / hull)).sum()


def test_dense_loss_smooth_l1_and_giou():
    t = Box2BoxTransform(weights=(1.0, 1.0, 1.0, 1.0))
    anchors = [Boxes(_random_boxes(6, 2)), Boxes(_random_boxes(4, 3))]
    all_anchors = torch.cat([a.tensor for a in anchors])
    pred = [torch.randn(2, 6, 4) * 0.1, torch.randn(2, 4, 4) * 0.1]
    gt = [_random_boxes(10, 4), _random_boxes(10, 5)]
    fg = torch.zeros(2, 10, dtype=torch.bool)
    fg[0, [1, 7]] = True
    fg[1, 3] = True

    loss = _dense_box_regression_loss(anchors, t, pred, gt, fg, "smooth_l1", 0.0)
    pred_all = torch.cat(pred, dim=1)
    expected = 0.0
    for img, idx in [(0, 1), (0, 7), (1, 3)]:
        a, g = all_anchors[idx].numpy(), gt[img][idx].numpy()
        aw, ah, gw, gh = a[2] - a[0], a[3] - a[1], g[2] - g[0], g[3] - g[1]
        target = [
            (g[0] + gw / 2 - a[0] - aw / 2) / aw,
            (g[1] + gh / 2 - a[1] - ah / 2) / ah,
            np.log(gw / aw),
            np.log(gh / ah),
        ]
        expected += np.abs(pred_all[img, idx].numpy() - np.array(target)).sum()
    assert loss.item() == pytest.approx(expected, rel=1e-5)

    loss = _dense_box_regression_loss(anchors, t, pred, gt, fg, "giou")
    decoded = torch.stack([t.apply_deltas(p, all_anchors) for p in pred_all])
    expected = _giou_loss_numpy(decoded[fg].double().numpy(), torch.stack(gt)[fg].double().numpy())
    assert loss.item() == pytest.approx(expected, rel=1e-5)

    with pytest.raises(ValueError, match="box_reg_loss_type"):
        _dense_box_regression_loss(anchors, t, pred, gt, fg, "l2")


def test_round_trip_on_random_boxes_with_rcnn_weights():
    torch.manual_seed(0)
    transform = Box2BoxTransform(weights=(5.0, 5.0, 10.0, 10.0))
    src, dst = random_boxes(10), random_boxes(10)
    deltas = transform.get_deltas(src, dst)
    torch.testing.assert_close(transform.apply_deltas(deltas, src), dst, atol=1e-4, rtol=1e-5)
    # Class-specific deltas (K = 5 classes, 4 values each) decode to K boxes per RoI.
    many = transform.apply_deltas(deltas.repeat(1, 5), src)
    assert many.shape == (10, 20)
    torch.testing.assert_close(many.view(10, 5, 4)[:, 3], dst, atol=1e-4, rtol=1e-5)
