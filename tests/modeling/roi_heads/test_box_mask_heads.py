import pytest
import torch
import torch.nn.functional as F

from det.layers import ShapeSpec
from det.modeling.roi_heads import (
    FastRCNNConvFCHead,
    MaskRCNNConvUpsampleHead,
    mask_rcnn_inference,
    mask_rcnn_loss,
)
from det.structures import BitMasks, Boxes, Instances
from det.utils.events import EventStorage


def test_box_head_names_and_shapes():
    head = FastRCNNConvFCHead(
        ShapeSpec(channels=8, height=7, width=7), conv_dims=[8, 8], fc_dims=[16], conv_norm="LN"
    )
    keys = set(head.state_dict())
    assert {"conv1.weight", "conv1.norm.weight", "conv2.norm.bias", "fc1.weight"} <= keys
    assert "conv1.bias" not in keys  # no bias with a norm
    assert head.state_dict()["fc1.weight"].shape == (16, 8 * 7 * 7)
    assert head(torch.randn(3, 8, 7, 7)).shape == (3, 16)
    assert head.output_shape == ShapeSpec(channels=16)
    conv_only = FastRCNNConvFCHead(
        ShapeSpec(channels=8, height=7, width=7), conv_dims=[4], fc_dims=[]
    )
    assert conv_only.output_shape == ShapeSpec(channels=4, height=7, width=7)


def _mask_head(**kwargs):
    torch.manual_seed(0)
    return MaskRCNNConvUpsampleHead(
        ShapeSpec(channels=4), num_classes=3, conv_dims=[4, 4, 6], conv_norm="LN", **kwargs
    )


def test_mask_head_names_and_shapes():
    head = _mask_head()
    assert [n for n, _ in head.named_children()] == [
        "mask_fcn1",
        "mask_fcn2",
        "deconv",
        "deconv_relu",
        "predictor",
    ]
    assert head.predictor.weight.shape == (3, 6, 1, 1)
    assert head.layers(torch.randn(2, 4, 7, 7)).shape == (2, 3, 14, 14)
    assert _mask_head(cls_agnostic_mask=True).predictor.weight.shape == (1, 6, 1, 1)


def test_mask_loss_matches_bce_on_cropped_targets():
    inst = Instances((8, 8))
    inst.proposal_boxes = Boxes(torch.tensor([[0.0, 0, 4, 4], [4, 4, 8, 8]]))
    inst.gt_classes = torch.tensor([2, 0])
    masks = torch.zeros(2, 8, 8, dtype=torch.bool)
    masks[0, :4, :2] = True  # left half of box 0
    masks[1] = True  # all of box 1
    inst.gt_masks = BitMasks(masks)
    logits = torch.randn(2, 3, 4, 4)
    empty = Instances((8, 8), proposal_boxes=Boxes(torch.zeros(0, 4)))
    with EventStorage():
        loss = mask_rcnn_loss(logits, [inst, empty])
    target0 = torch.zeros(4, 4)
    target0[:, :2] = 1
    expected = F.binary_cross_entropy_with_logits(
        torch.stack([logits[0, 2], logits[1, 0]]), torch.stack([target0, torch.ones(4, 4)])
    )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    with EventStorage():
        assert mask_rcnn_loss(logits[:0], [empty]).item() == 0.0


def test_mask_inference_takes_predicted_class_channel():
    logits = torch.randn(3, 3, 5, 5)
    a, b = Instances((8, 8)), Instances((8, 8))
    a.pred_classes = torch.tensor([2, 1])
    b.pred_classes = torch.tensor([0])
    mask_rcnn_inference(logits, [a, b])
    assert a.pred_masks.shape == (2, 1, 5, 5) and b.pred_masks.shape == (1, 1, 5, 5)
    # The channel pick is exact; the sigmoid's vectorized kernel may differ in the last bit
    # between a batch and a slice, so compare with a float32 tolerance.
    torch.testing.assert_close(a.pred_masks[0, 0], logits[0, 2].sigmoid(), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(a.pred_masks[1, 0], logits[1, 1].sigmoid(), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(b.pred_masks[0, 0], logits[2, 0].sigmoid(), rtol=1e-6, atol=1e-7)
