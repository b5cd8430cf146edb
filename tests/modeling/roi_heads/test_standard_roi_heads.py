import pytest
import torch

from det.layers import ShapeSpec
from det.modeling.box_regression import Box2BoxTransform
from det.modeling.matcher import Matcher
from det.modeling.poolers import ROIPooler
from det.modeling.roi_heads import (
    FastRCNNConvFCHead,
    FastRCNNOutputLayers,
    MaskRCNNConvUpsampleHead,
    NumClassesMismatchError,
    SoftNMS,
    StandardROIHeads,
    fast_rcnn_inference,
)
from det.structures import BitMasks, Boxes, Instances
from det.utils.errors import UserError
from det.utils.events import EventStorage

IN_FEATURES = ["p2", "p3"]
SCALES = (1 / 4, 1 / 8)


def _heads(with_mask=True, **kwargs):
    torch.manual_seed(0)
    mask = {}
    if with_mask:
        mask = dict(
            mask_in_features=IN_FEATURES,
            mask_pooler=ROIPooler(7, SCALES, sampling_ratio=2),
            mask_head=MaskRCNNConvUpsampleHead(
                ShapeSpec(channels=4), num_classes=3, conv_dims=[4, 4]
            ),
        )
    return StandardROIHeads(
        box_in_features=IN_FEATURES,
        box_pooler=ROIPooler(7, SCALES, sampling_ratio=2),
        box_head=FastRCNNConvFCHead(
            ShapeSpec(channels=4, height=7, width=7), conv_dims=[4], fc_dims=[16]
        ),
        box_predictor=FastRCNNOutputLayers(
            input_shape=ShapeSpec(channels=16),
            box2box_transform=Box2BoxTransform(weights=(10, 10, 5, 5)),
            num_classes=3,
            test_score_thresh=0.3,
        ),
        num_classes=3,
        batch_size_per_image=8,
        positive_fraction=0.5,
        proposal_matcher=Matcher([0.5], [0, 1]),
        **mask,
        **kwargs,
    )


def _features():
    g = torch.Generator().manual_seed(1)
    return {
        "p2": torch.randn(1, 4, 16, 16, generator=g),
        "p3": torch.randn(1, 4, 8, 8, generator=g),
    }


def _proposals(n=6):
    g = torch.Generator().manual_seed(2)
    xy = torch.rand(n, 2, generator=g) * 40
    wh = 8 + torch.rand(n, 2, generator=g) * 20
    p = Instances((64, 64))
    p.proposal_boxes = Boxes(torch.cat([xy, xy + wh], dim=1))
    p.objectness_logits = torch.zeros(n)
    return [p]


def _raw_outputs(heads):
    pooled = heads.box_pooler(
        [_features()[f] for f in IN_FEATURES], [_proposals()[0].proposal_boxes]
    )
    predictions = heads.box_predictor(heads.box_head(pooled))
    return (
        heads.box_predictor.predict_boxes(predictions, _proposals()),
        heads.box_predictor.predict_probs(predictions, _proposals()),
    )


def test_inference_works_and_matches_predictor():
    # The EVA-02 fork crashes here (keep_all_before_merge); det supports StandardROIHeads.
    heads = _heads().eval()
    with torch.no_grad():
        (out,), losses = heads(None, _features(), _proposals())
        boxes, scores = _raw_outputs(heads)
    assert losses == {}
    (expected,), _ = fast_rcnn_inference(boxes, scores, [(64, 64)], 0.3, 0.5, 100)
    # Recomputed features: equal up to float32 rounding (conv / matmul summation order).
    torch.testing.assert_close(out.scores, expected.scores, rtol=1e-5, atol=1e-6)
    assert out.pred_masks.shape[1:] == (1, 14, 14)


def test_readme_options_work_on_standard_heads():
    heads = _heads(
        use_soft_nms=True,
        method="gaussian",
        sigma=0.5,
        class_wise=True,
        override_score_thresh=0.0,
        maskness_thresh=0.5,
        maskness_separate_scores=True,
    ).eval()
    assert repr(heads.box_nms).startswith("SoftNMS(method='gaussian'")
    with torch.no_grad():
        (out,), _ = heads(None, _features(), _proposals())
        boxes, scores = _raw_outputs(heads)
    (expected,), _ = fast_rcnn_inference(
        boxes, scores, [(64, 64)], 0.0, 0.5, 100, nms=SoftNMS("gaussian", class_wise=True)
    )
    # the threshold override reached inference (float32 tolerance: recomputed features)
    torch.testing.assert_close(out.scores, expected.scores, rtol=1e-5, atol=1e-6)
    assert len(out) > 3  # soft-NMS keeps overlapping boxes
    assert out.mask_scores.shape == out.scores.shape
    assert torch.all(out.mask_scores <= out.scores)


def test_maskness_needs_a_mask_head():
    with pytest.raises(ValueError, match="maskness_thresh"):
        _heads(with_mask=False, maskness_thresh=0.5)


def _targets(classes):
    t = Instances((64, 64))
    t.gt_boxes = Boxes(torch.tensor([[5.0, 5, 30, 30], [30, 20, 60, 50]])[: len(classes)])
    t.gt_classes = torch.tensor(classes, dtype=torch.int64)
    t.gt_masks = BitMasks(torch.ones(len(classes), 64, 64, dtype=torch.bool))
    return t


def test_sampling_with_and_without_ground_truth():
    heads = _heads().train()
    with EventStorage():
        sampled = heads.label_and_sample_proposals(
            _proposals() * 2, [_targets([0, 2]), _targets([])]
        )
    with_gt, without_gt = sampled
    assert len(with_gt) <= 8
    assert with_gt.has("gt_boxes") and with_gt.has("gt_masks")
    # The appended GT boxes are matched to themselves.
    fg = with_gt.gt_classes < 3
    assert fg.sum() >= 2 and set(with_gt.gt_classes[fg].tolist()) <= {0, 2}
    assert without_gt.gt_classes.tolist() == [3] * len(without_gt)
    assert not without_gt.has("gt_boxes")


def test_class_index_beyond_num_classes_is_a_clear_error():
    heads = _heads().train()
    with EventStorage(), pytest.raises(NumClassesMismatchError, match="num_classes=3") as info:
        heads(None, _features(), _proposals(), [_targets([0, 5])])
    assert isinstance(info.value, UserError)
