import pytest
import torch
import torch.nn.functional as F

from det.layers import ShapeSpec
from det.modeling.box_regression import Box2BoxTransform
from det.modeling.matcher import Matcher
from det.modeling.poolers import ROIPooler
from det.modeling.roi_heads import (
    CascadeROIHeads,
    FastRCNNConvFCHead,
    FastRCNNOutputLayers,
    MaskRCNNConvUpsampleHead,
)
from det.modeling.roi_heads.cascade_rcnn import _ScaleGradient
from det.structures import BitMasks, Boxes, Instances
from det.utils.events import EventStorage

IN_FEATURES = ["p2", "p3", "p4", "p5"]
SCALES = (1 / 4, 1 / 8, 1 / 16, 1 / 32)


def _cascade(**kwargs):
    torch.manual_seed(0)
    return CascadeROIHeads(
        box_in_features=IN_FEATURES,
        box_pooler=ROIPooler(7, SCALES, sampling_ratio=2),
        box_heads=[
            FastRCNNConvFCHead(ShapeSpec(channels=4, height=7, width=7), conv_dims=[], fc_dims=[16])
            for _ in range(3)
        ],
        box_predictors=[
            FastRCNNOutputLayers(
                input_shape=ShapeSpec(channels=16),
                box2box_transform=Box2BoxTransform(weights=(w, w, w / 2, w / 2)),
                num_classes=3,
                cls_agnostic_bbox_reg=True,
                test_score_thresh=0.0,
            )
            for w in (10, 20, 30)
        ],
        proposal_matchers=[Matcher([t], [0, 1]) for t in (0.5, 0.6, 0.7)],
        mask_in_features=IN_FEATURES,
        mask_pooler=ROIPooler(7, SCALES, sampling_ratio=2),
        mask_head=MaskRCNNConvUpsampleHead(ShapeSpec(channels=4), num_classes=3, conv_dims=[4, 4]),
        num_classes=3,
        batch_size_per_image=16,
        positive_fraction=0.25,
        **kwargs,
    )


def _features(seed=1):
    g = torch.Generator().manual_seed(seed)
    return {f"p{k}": torch.randn(1, 4, 64 >> k, 64 >> k, generator=g) for k in range(2, 6)}


def _proposals():
    p = Instances((64, 64))
    p.proposal_boxes = Boxes(torch.tensor([[2.0, 3, 30, 28], [20, 20, 60, 50], [5, 30, 25, 62]]))
    p.objectness_logits = torch.zeros(3)
    return [p]


def test_inference_averages_stage_probabilities():
    heads = _cascade().eval()
    features = _features()
    captured = {}

    def capture(predictor, boxes, scores, image_sizes):
        captured.update(predictor=predictor, boxes=boxes, scores=scores)
        return [
            Instances(
                image_sizes[0],
                pred_boxes=Boxes(torch.zeros(0, 4)),
                pred_classes=torch.zeros(0, dtype=torch.int64),
                scores=torch.zeros(0),
            )
        ]

    heads._select_detections = capture
    with torch.no_grad():
        heads(None, features, _proposals())
        # Reference: run the stages by hand, each on the clipped boxes of the previous one.
        feats = [features[f] for f in IN_FEATURES]
        boxes = _proposals()[0].proposal_boxes.tensor
        probs = []
        for k in range(3):
            pooled = heads.box_pooler(feats, [Boxes(boxes)])
            logits, deltas = heads.box_predictor[k](heads.box_head[k](pooled))
            probs.append(F.softmax(logits, dim=-1))
            boxes = heads.box_predictor[k].box2box_transform.apply_deltas(deltas, boxes)
            last_boxes = boxes.clone()
            boxes = boxes.clamp(min=0, max=64)
    expected = (probs[0] + probs[1] + probs[2]) / 3
    assert captured["predictor"] is heads.box_predictor[2]
    assert torch.allclose(captured["scores"][0], expected, atol=1e-6)
    assert torch.allclose(captured["boxes"][0], last_boxes, atol=1e-4)


def test_inference_end_to_end_with_readme_options():
    heads = _cascade(
        use_soft_nms=True,
        method="linear",
        iou_threshold=0.6,
        class_wise=True,
        override_score_thresh=0.0,
        maskness_thresh=0.5,
    ).eval()
    with torch.no_grad():
        (out,), _ = heads(None, _features(), _proposals())
    # Soft-NMS without cap and threshold 0: every (RoI, class) pair with a score >= 1e-3 stays.
    assert 3 < len(out) <= 9
    assert out.pred_masks.shape == (len(out), 1, 14, 14)
    assert heads.maskness_thresh == 0.5
    assert torch.all(out.scores <= 1.0)


def test_training_losses_per_stage_and_no_gt_image():
    heads = _cascade().train()
    gt = Instances((64, 64))
    gt.gt_boxes = Boxes(torch.tensor([[2.0, 3, 30, 28], [21, 19, 59, 52]]))
    gt.gt_classes = torch.tensor([0, 2])
    masks = torch.zeros(2, 64, 64, dtype=torch.bool)
    masks[0, 3:28, 2:30] = True
    masks[1, 19:52, 21:59] = True
    gt.gt_masks = BitMasks(masks)
    empty = Instances((64, 64))
    empty.gt_boxes = Boxes(torch.zeros(0, 4))
    empty.gt_classes = torch.zeros(0, dtype=torch.int64)
    empty.gt_masks = BitMasks(torch.zeros(0, 64, 64, dtype=torch.bool))
    features = {k: torch.cat([v, v]).requires_grad_() for k, v in _features().items()}
    with EventStorage() as storage:
        _, losses = heads(None, features, _proposals() * 2, [gt, empty])
    assert set(losses) == {
        f"{name}_stage{k}" for name in ("loss_cls", "loss_box_reg") for k in range(3)
    } | {"loss_mask"}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert features["p2"].grad is not None
    assert "stage1/roi_head/num_fg_samples" in storage.histories()


def test_gradient_scaling():
    x = torch.ones(3, requires_grad=True)
    _ScaleGradient.apply(x, 1 / 3).sum().backward()
    assert x.grad.tolist() == pytest.approx([1 / 3] * 3)


def test_stage_count_mismatch():
    with pytest.raises(ValueError, match="per stage"):
        CascadeROIHeads(
            box_in_features=IN_FEATURES,
            box_pooler=ROIPooler(7, SCALES, sampling_ratio=2),
            box_heads=[torch.nn.Identity()] * 2,
            box_predictors=[torch.nn.Identity()] * 3,
            proposal_matchers=[Matcher([0.5], [0, 1])] * 3,
            num_classes=3,
            batch_size_per_image=16,
            positive_fraction=0.25,
        )
