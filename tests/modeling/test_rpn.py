import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import box_iou

from det.modeling.anchor_generator import DefaultAnchorGenerator
from det.modeling.box_regression import Box2BoxTransform
from det.modeling.matcher import Matcher
from det.modeling.proposal_generator import (
    RPN,
    StandardRPNHead,
    add_ground_truth_to_proposals,
    find_top_rpn_proposals,
)
from det.structures import Boxes, ImageList, Instances
from det.utils.events import EventStorage

IMAGE_SIZES = [(64, 64), (48, 56)]


def _make_rpn(batch_size_per_image=64):
    return RPN(
        in_features=["p2", "p3"],
        head=StandardRPNHead(in_channels=8, num_anchors=3, conv_dims=[-1, -1]),
        anchor_generator=DefaultAnchorGenerator(
            sizes=[[16], [32]], aspect_ratios=[0.5, 1.0, 2.0], strides=[4, 8], offset=0.0
        ),
        anchor_matcher=Matcher([0.3, 0.7], [0, -1, 1], allow_low_quality_matches=True),
        box2box_transform=Box2BoxTransform(weights=(1.0, 1.0, 1.0, 1.0)),
        batch_size_per_image=batch_size_per_image,
        positive_fraction=0.5,
        pre_nms_topk=(200, 100),
        post_nms_topk=(50, 30),
        nms_thresh=0.7,
    )


def _inputs():
    g = torch.Generator().manual_seed(0)
    images = ImageList(torch.zeros(2, 3, 64, 64), IMAGE_SIZES)
    features = {
        "p2": torch.randn(2, 8, 16, 16, generator=g),
        "p3": torch.randn(2, 8, 8, 8, generator=g),
    }
    gt0 = Instances(
        IMAGE_SIZES[0], gt_boxes=Boxes(torch.tensor([[4.0, 6, 30, 28], [30, 20, 60, 60]]))
    )
    gt1 = Instances(IMAGE_SIZES[1], gt_boxes=Boxes(torch.zeros(0, 4)))  # no annotations
    return images, features, [gt0, gt1]


def test_head_keys_match_checkpoints():
    # proposal_generator.rpn_head.* in the EVA-02 cascade checkpoints (spec/checkpoint_keys).
    expected = {
        "conv.conv0.weight": (256, 256, 3, 3),
        "conv.conv0.bias": (256,),
        "conv.conv1.weight": (256, 256, 3, 3),
        "conv.conv1.bias": (256,),
        "objectness_logits.weight": (3, 256, 1, 1),
        "objectness_logits.bias": (3,),
        "anchor_deltas.weight": (12, 256, 1, 1),
        "anchor_deltas.bias": (12,),
    }
    head = StandardRPNHead(in_channels=256, num_anchors=3, conv_dims=[-1, -1])
    assert {k: tuple(v.shape) for k, v in head.state_dict().items()} == expected
    single = StandardRPNHead(in_channels=16, num_anchors=3)
    assert sorted(single.state_dict()) == sorted(
        ["conv.weight", "conv.bias", "objectness_logits.weight", "objectness_logits.bias"]
        + ["anchor_deltas.weight", "anchor_deltas.bias"]
    )
    rpn = _make_rpn()
    assert all(k.startswith("rpn_head.") for k in rpn.state_dict())


def test_train_forward_backward_with_empty_image():
    torch.manual_seed(0)
    rpn = _make_rpn().train()
    images, features, gts = _inputs()
    with EventStorage() as storage:
        proposals, losses = rpn(images, features, gts)
        assert storage.latest()["rpn/num_pos_anchors"][0] > 0
    assert set(losses) == {"loss_rpn_cls", "loss_rpn_loc"}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    for name, p in rpn.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    for props, (h, w) in zip(proposals, IMAGE_SIZES):
        assert 0 < len(props) <= 50
        b = props.proposal_boxes.tensor
        assert (b[:, 0] >= 0).all() and (b[:, 2] <= w).all() and (b[:, 3] <= h).all()
        logits = props.objectness_logits
        assert (logits[:-1] >= logits[1:]).all()


def _expected_losses(rpn, features, gts):
    """Losses with every labeled anchor used (no sampling), computed loop by loop."""
    anchors = torch.cat([a.tensor for a in rpn.anchor_generator([features["p2"], features["p3"]])])
    logits, deltas = rpn.rpn_head([features["p2"], features["p3"]])
    loss_cls = loss_loc = 0.0
    for n, gt in enumerate(gts):
        # Head outputs in anchor order: level, then row y, column x, then anchor a.
        pred_logit, pred_delta = [], []
        for lg, dl in zip(logits, deltas):
            _, num_a, h, w = lg.shape
            for y in range(h):
                for x in range(w):
                    for a in range(num_a):
                        pred_logit.append(lg[n, a, y, x])
                        pred_delta.append(dl[n, 4 * a : 4 * a + 4, y, x])
        pred_logit, pred_delta = torch.stack(pred_logit), torch.stack(pred_delta)

        gt_boxes = gt.gt_boxes.tensor
        labels = torch.zeros(len(anchors))
        matched = torch.zeros(len(anchors), dtype=torch.long)
        if len(gt_boxes):
            iou = box_iou(gt_boxes, anchors)
            best, matched = iou.max(dim=0)
            labels[(best >= 0.3) & (best < 0.7)] = -1
            labels[best >= 0.7] = 1
            labels[(iou == iou.max(dim=1, keepdim=True).values).any(dim=0)] = 1
        valid = labels >= 0
        loss_cls += F.binary_cross_entropy_with_logits(
            pred_logit[valid], labels[valid], reduction="sum"
        )
        for k in torch.nonzero(labels == 1)[:, 0].tolist():
            a, g = anchors[k], gt_boxes[matched[k]]
            aw, ah, gw, gh = a[2] - a[0], a[3] - a[1], g[2] - g[0], g[3] - g[1]
            target = torch.stack(
                [
                    (g[0] + gw / 2 - a[0] - aw / 2) / aw,
                    (g[1] + gh / 2 - a[1] - ah / 2) / ah,
                    torch.log(gw / aw),
                    torch.log(gh / ah),
                ]
            )
            loss_loc += (pred_delta[k] - target).abs().sum()
    norm = rpn.batch_size_per_image * len(gts)
    return loss_cls / norm, loss_loc / norm


def test_losses_match_direct_computation():
    # A batch larger than the anchor count keeps every labeled anchor: no sampling randomness.
    rpn = _make_rpn(batch_size_per_image=100000).train()
    images, features, gts = _inputs()
    with torch.no_grad(), EventStorage():
        _, losses = rpn(images, features, gts)
        loss_cls, loss_loc = _expected_losses(rpn, features, gts)
    assert losses["loss_rpn_cls"].item() == pytest.approx(loss_cls.item(), rel=1e-5)
    assert losses["loss_rpn_loc"].item() == pytest.approx(loss_loc.item(), rel=1e-5)


def test_inference():
    rpn = _make_rpn().eval()
    images, features, _ = _inputs()
    with torch.no_grad():
        proposals, losses = rpn(images, features)
    assert losses == {}
    assert [len(p) <= 30 for p in proposals] == [True, True]
    assert set(proposals[0].get_fields()) == {"proposal_boxes", "objectness_logits"}


def test_find_top_rpn_proposals_by_hand():
    level0 = torch.tensor([[[0.0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60], [2, 2, 3, 3]]])
    level1 = torch.tensor([[[0.0, 0, 10, 10]]])
    logits = [torch.tensor([[3.0, 2.0, 1.0, 0.5]]), torch.tensor([[2.5]])]
    (res,) = find_top_rpn_proposals(
        [level0, level1], logits, [(40, 40)], 0.7, 3, 10, min_box_size=0.0, training=False
    )
    # Box 3 is cut by pre_nms_topk=3; box 2 is clipped to an empty box; box 1 has IoU 0.81 with
    # box 0 on the same level; the level-1 copy of box 0 survives (NMS is per level).
    torch.testing.assert_close(res.proposal_boxes.tensor, torch.tensor([[0.0, 0, 10, 10]] * 2))
    torch.testing.assert_close(res.objectness_logits, torch.tensor([3.0, 2.5]))

    bad = [torch.tensor([[3.0, float("nan"), 1.0, 0.5]]), torch.tensor([[2.5]])]
    with pytest.raises(FloatingPointError):
        find_top_rpn_proposals([level0, level1], bad, [(40, 40)], 0.7, 4, 10, 0.0, training=True)
    (res,) = find_top_rpn_proposals([level0, level1], bad, [(40, 40)], 0.7, 4, 10, 0.0, False)
    assert len(res) == 3  # boxes 0 and 3 from level 0, box 0 from level 1


def test_add_ground_truth_to_proposals():
    props = Instances((20, 20))
    props.proposal_boxes = Boxes(torch.tensor([[0.0, 0, 5, 5]]))
    props.objectness_logits = torch.tensor([1.0])
    gt = Instances((20, 20), gt_boxes=Boxes(torch.tensor([[1.0, 1, 4, 4], [2, 2, 9, 9]])))
    gt.gt_classes = torch.tensor([3, 4])
    (out,) = add_ground_truth_to_proposals([gt], [props])
    assert len(out) == 3 and set(out.get_fields()) == {"proposal_boxes", "objectness_logits"}
    torch.testing.assert_close(out.proposal_boxes.tensor[1:], gt.gt_boxes.tensor)
    assert out.objectness_logits[1:].tolist() == pytest.approx([math.log(1e10)] * 2, rel=1e-6)
    (out,) = add_ground_truth_to_proposals([gt.gt_boxes], [props])
    assert len(out) == 3
