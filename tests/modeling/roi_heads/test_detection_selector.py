"""Test-time detection selection (``DetectionSelector``) through both RoI heads.

The expected detections come from a plain reference written here: strict score threshold,
torchvision's ``batched_nms`` + top-k, a float64 loop with mmcv 1.7.1's soft-NMS rules, and the
maskness formula by hand. Before the selection moved into ``DetectionSelector`` the same seeded
models were also compared against the pre-refactor code bitwise (30 cases, no difference).
"""

import math

import pytest
import torch
from torchvision.ops import batched_nms, box_iou

from det.config import instantiate
from det.config.lazy import LazyConfig
from det.layers import ShapeSpec
from det.model_zoo import get_config
from det.modeling.box_regression import Box2BoxTransform
from det.modeling.matcher import Matcher
from det.modeling.poolers import ROIPooler
from det.modeling.roi_heads import (
    CascadeROIHeads,
    DetectionSelector,
    FastRCNNConvFCHead,
    FastRCNNOutputLayers,
    MaskRCNNConvUpsampleHead,
    StandardROIHeads,
    UnknownTestOptionError,
)
from det.structures import Boxes, Instances

IN_FEATURES = ["p2", "p3"]
SCALES = (1 / 4, 1 / 8)

README = dict(
    use_soft_nms=True,
    method="linear",
    iou_threshold=0.6,
    class_wise=True,
    override_score_thresh=0.0,
    maskness_thresh=0.5,
)
MODES = {
    "hard": {},
    "override": dict(override_score_thresh=0.2),
    "soft_linear": dict(use_soft_nms=True, method="linear"),
    "soft_gaussian": dict(use_soft_nms=True, method="gaussian", sigma=0.3),
    "soft_naive_class_wise": dict(
        use_soft_nms=True, method="naive", iou_threshold=0.4, class_wise=True
    ),
    "soft_min_score": dict(use_soft_nms=True, method="linear", min_score=0.1),
    "maskness": dict(maskness_thresh=0.5),
    "maskness_separate": dict(maskness_thresh=0.5, maskness_separate_scores=True),
    "readme": README,
    "readme_separate": dict(README, maskness_separate_scores=True),
}


def _predictor(weight, score_thresh, agnostic):
    return FastRCNNOutputLayers(
        input_shape=ShapeSpec(channels=16),
        box2box_transform=Box2BoxTransform(weights=(weight, weight, weight / 2, weight / 2)),
        num_classes=3,
        test_score_thresh=score_thresh,
        cls_agnostic_bbox_reg=agnostic,
    )


def _common():
    return dict(
        box_in_features=IN_FEATURES,
        box_pooler=ROIPooler(7, SCALES, sampling_ratio=2),
        mask_in_features=IN_FEATURES,
        mask_pooler=ROIPooler(7, SCALES, sampling_ratio=2),
        mask_head=MaskRCNNConvUpsampleHead(ShapeSpec(channels=4), num_classes=3, conv_dims=[4, 4]),
        num_classes=3,
        batch_size_per_image=8,
        positive_fraction=0.5,
    )


def _box_head():
    return FastRCNNConvFCHead(ShapeSpec(channels=4, height=7, width=7), conv_dims=[4], fc_dims=[16])


def _standard(**options):
    """Class-specific box regression; score threshold 0.24 (untrained scores are near 0.25)."""
    torch.manual_seed(0)
    return StandardROIHeads(
        box_head=_box_head(),
        box_predictor=_predictor(10, 0.24, agnostic=False),
        proposal_matcher=Matcher([0.5], [0, 1]),
        **_common(),
        **options,
    )


def _cascade(**options):
    """Three stages, class-agnostic boxes, score threshold 0 (EVA-02's cascade setting)."""
    torch.manual_seed(0)
    return CascadeROIHeads(
        box_heads=[_box_head() for _ in range(3)],
        box_predictors=[_predictor(w, 0.0, agnostic=True) for w in (10, 20, 30)],
        proposal_matchers=[Matcher([t], [0, 1]) for t in (0.5, 0.6, 0.7)],
        **_common(),
        **options,
    )


def _features():
    g = torch.Generator().manual_seed(1)
    return {
        "p2": torch.randn(1, 4, 16, 16, generator=g),
        "p3": torch.randn(1, 4, 8, 8, generator=g),
    }


def _proposals(n=20):
    g = torch.Generator().manual_seed(3)
    xy = torch.rand(n, 2, generator=g) * 40
    wh = 8 + torch.rand(n, 2, generator=g) * 20
    p = Instances((64, 64))
    p.proposal_boxes = Boxes(torch.cat([xy, xy + wh], dim=1))
    p.objectness_logits = torch.zeros(n)
    return [p]


def _soft_nms_reference(boxes, scores, classes, method, iou_thr, sigma, min_score, class_wise):
    """mmcv 1.7.1 soft-NMS in float64: pick the best remaining, decay the rest, drop < min."""
    iou = box_iou(boxes.double(), boxes.double())
    if class_wise:
        iou = iou * (classes[:, None] == classes[None, :])
    live = scores.double().clone()
    alive = list(range(len(scores)))
    keep, kept = [], []
    while alive:
        best = max(alive, key=lambda i: live[i].item())
        alive.remove(best)
        keep.append(best)
        kept.append(live[best].item())
        for i in list(alive):
            o = iou[best, i].item()
            if method == "linear" and o >= iou_thr:
                live[i] *= 1 - o
            elif method == "naive" and o >= iou_thr:
                live[i] = 0.0
            elif method == "gaussian":
                live[i] *= math.exp(-(o * o) / sigma)
            if live[i] < min_score:
                alive.remove(i)
    return torch.tensor(keep, dtype=torch.int64), torch.tensor(kept, dtype=torch.float64)


def _reference(options, predictor, boxes, scores, image_size, masks):
    """Detections of one image: (classes, scores, boxes, mask scores or None)."""
    thresh = options.get("override_score_thresh", predictor.test_score_thresh)
    scores = scores[:, :-1]
    boxes = boxes.reshape(len(boxes), -1, 4).clone()
    boxes[..., 0::2] = boxes[..., 0::2].clamp(0, image_size[1])
    boxes[..., 1::2] = boxes[..., 1::2].clamp(0, image_size[0])
    roi, cls = (scores > thresh).nonzero(as_tuple=True)
    cand_boxes = boxes[roi, 0] if boxes.shape[1] == 1 else boxes[roi, cls]
    cand_scores = scores[roi, cls]
    if options.get("use_soft_nms"):
        keep, out_scores = _soft_nms_reference(
            cand_boxes,
            cand_scores,
            cls,
            options.get("method", "linear"),
            options.get("iou_threshold", 0.3),
            options.get("sigma", 0.5),
            options.get("min_score", 1e-3),
            options.get("class_wise", False),
        )
    else:
        keep = batched_nms(cand_boxes, cand_scores, cls, predictor.test_nms_thresh)
        keep = keep[: predictor.test_topk_per_image]
        out_scores = cand_scores[keep].double()
    mask_scores = None
    if "maskness_thresh" in options:
        above = masks > options["maskness_thresh"]
        maskness = (masks * above).double().sum((1, 2, 3)) / above.sum((1, 2, 3)).clamp(min=1)
        mask_scores = out_scores * maskness
        if not options.get("maskness_separate_scores"):
            out_scores, mask_scores = mask_scores, None
    return cls[keep], out_scores, cand_boxes[keep], mask_scores


CASES = {"standard": _standard, "cascade": _cascade}


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("head", sorted(CASES))
def test_selection_matches_reference(head, mode):
    options = MODES[mode]
    heads = CASES[head](**options).eval()
    captured = {}
    select = heads.test_selection.select

    def spy(predictor, boxes, scores, image_sizes):
        captured.update(predictor=predictor, boxes=boxes[0], scores=scores[0])
        return select(predictor, boxes, scores, image_sizes)

    heads.test_selection.select = spy
    with torch.no_grad():
        (out,), _ = heads(None, _features(), _proposals())
    assert len(out) > 5
    classes, scores, boxes, mask_scores = _reference(
        options,
        captured["predictor"],
        captured["boxes"],
        captured["scores"],
        (64, 64),
        out.pred_masks,
    )
    assert out.pred_classes.tolist() == classes.tolist()
    torch.testing.assert_close(out.pred_boxes.tensor, boxes, rtol=0, atol=0)  # a selection
    torch.testing.assert_close(out.scores.double(), scores, rtol=1e-5, atol=1e-7)
    if mask_scores is None:
        assert not out.has("mask_scores")
    else:
        torch.testing.assert_close(out.mask_scores.double(), mask_scores, rtol=1e-5, atol=1e-7)


def test_hard_nms_keeps_the_predictor_top_k_and_soft_nms_does_not():
    heads = _cascade().eval()
    heads.box_predictor[-1].test_topk_per_image = 5
    with torch.no_grad():
        (hard,), _ = heads(None, _features(), _proposals())
        heads.test_selection = DetectionSelector(use_soft_nms=True, class_wise=True)
        (soft,), _ = heads(None, _features(), _proposals())
    assert len(hard) == 5
    assert len(soft) > 5


def test_selector_object_equals_flat_options_and_adds_no_state():
    flat = _cascade(**README).eval()
    given = _cascade(test_selection=DetectionSelector(**README)).eval()
    plain = _cascade()
    assert list(flat.state_dict()) == list(plain.state_dict())  # checkpoint keys unchanged
    with torch.no_grad():
        (a,), _ = flat(None, _features(), _proposals())
        (b,), _ = given(None, _features(), _proposals())
    assert torch.equal(a.scores, b.scores) and torch.equal(a.pred_classes, b.pred_classes)


def test_option_errors_name_the_key():
    with pytest.raises(UnknownTestOptionError, match="Did you mean: use_soft_nms"):
        _cascade(use_soft_nm=True)
    with pytest.raises(UnknownTestOptionError, match="together with test_selection"):
        _cascade(test_selection=DetectionSelector(), use_soft_nms=True)
    with pytest.raises(ValueError, match="model.roi_heads.method"):
        DetectionSelector(method="lin")


@pytest.mark.parametrize("config", ["mask_rcnn_vitdet", "cascade_mask_rcnn_vitdet"])
def test_readme_overrides_reach_the_selector(config):
    cfg = get_config(f"common/models/{config}.py")
    overrides = [f"model.roi_heads.{k}={v}" for k, v in README.items()]
    LazyConfig.apply_overrides(cfg, [*overrides, "model.roi_heads.maskness_separate_scores=True"])
    with torch.device("meta"):
        heads = instantiate(cfg.model.roi_heads)
    selection = heads.test_selection
    assert repr(selection.soft_nms) == (
        "SoftNMS(method='linear', iou_threshold=0.6, sigma=0.5, min_score=0.001, class_wise=True)"
    )
    assert selection.override_score_thresh == 0.0
    assert (selection.maskness.threshold, selection.maskness.separate_mask_scores) == (0.5, True)
    # The attributes user code and other tests read on the heads stay.
    assert heads.box_nms is selection.soft_nms and heads.maskness_thresh == 0.5
    assert heads.override_score_thresh == 0.0
