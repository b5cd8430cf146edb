import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from det.data.catalog import MetadataCatalog
from det.data.detection_utils import get_fed_loss_cls_weights
from det.layers import ShapeSpec
from det.modeling.box_regression import Box2BoxTransform
from det.modeling.roi_heads import (
    FastRCNNOutputLayers,
    HardNMS,
    SoftNMS,
    fast_rcnn_inference,
    fast_rcnn_inference_single_image,
    get_fed_loss_classes,
)
from det.structures import Boxes, Instances
from det.utils.events import EventStorage

# Three RoIs, K = 3 classes (column 3 = background), class-agnostic boxes. RoI 0 and 1 overlap
# with IoU 81 / 119; RoI 2 is far away.
BOXES = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]])
SCORES = torch.tensor(
    [
        [0.70, 0.10, 0.05, 0.15],
        [0.60, 0.30, 0.05, 0.05],
        [0.05, 0.05, 0.80, 0.10],
    ]
)
IOU01 = 81 / 119


def _detections(result):
    inst, rois = result
    return (
        inst.pred_classes.tolist(),
        rois.tolist(),
        inst.scores.tolist(),
        inst.pred_boxes.tensor.tolist(),
    )


def test_hard_nms_inference_by_hand():
    # Candidates need score > 0.05 (strict): (0,0) .7, (0,1) .1, (1,0) .6, (1,1) .3, (2,2) .8.
    # Class 0: RoI 1 suppressed by RoI 0; class 1: RoI 0 suppressed by RoI 1; top-2 by score.
    result = fast_rcnn_inference_single_image(BOXES, SCORES, (100, 100), 0.05, 0.5, 2)
    classes, rois, scores, boxes = _detections(result)
    assert classes == [2, 0]
    assert rois == [2, 0]
    assert scores == pytest.approx([0.8, 0.7])
    assert boxes == [[50.0, 50, 60, 60], [0.0, 0, 10, 10]]
    # Without the cap the third survivor, class 1 of RoI 1, appears.
    classes, rois, _, _ = _detections(
        fast_rcnn_inference_single_image(BOXES, SCORES, (100, 100), 0.05, 0.5, -1)
    )
    assert (classes, rois) == ([2, 0, 1], [2, 0, 1])


def test_boxes_are_clipped_and_non_finite_rois_dropped():
    boxes = torch.cat([BOXES, torch.tensor([[float("nan"), 0, 5, 5]])])
    scores = torch.cat([SCORES, torch.tensor([[0.9, 0.0, 0.0, 0.1]])])
    inst, _ = fast_rcnn_inference_single_image(boxes, scores, (55, 58), 0.05, 0.5, 100)
    assert inst.pred_boxes.tensor[0].tolist() == [50.0, 50.0, 58.0, 55.0]  # (w=58, h=55)
    assert torch.isfinite(inst.pred_boxes.tensor).all()
    assert len(inst) == 3


def test_soft_nms_linear_across_classes_by_hand():
    # mmcv order: pick .8 (RoI 2, no overlap); pick .7 (RoI 0): (1,0) -> .6 * (1 - IoU),
    # (0,1) has IoU 1 -> 0 (dropped), (1,1) -> .3 * (1 - IoU); pick (1,0); it zeroes (1,1).
    # No top-k cap: 3 detections although topk_per_image = 2.
    nms = SoftNMS(method="linear", iou_threshold=0.3, class_wise=False)
    result = fast_rcnn_inference_single_image(BOXES, SCORES, (100, 100), 0.05, 0.5, 2, nms)
    classes, rois, scores, _ = _detections(result)
    assert classes == [2, 0, 0]
    assert rois == [2, 0, 1]
    assert scores == pytest.approx([0.8, 0.7, 0.6 * (1 - IOU01)], abs=1e-6)


def test_soft_nms_class_wise_by_hand():
    nms = SoftNMS(method="linear", iou_threshold=0.3, class_wise=True)
    result = fast_rcnn_inference_single_image(BOXES, SCORES, (100, 100), 0.05, 0.5, 2, nms)
    classes, rois, scores, boxes = _detections(result)
    assert classes == [2, 0, 1, 0, 1]
    assert rois == [2, 0, 1, 1, 0]
    decay = 1 - IOU01
    assert scores == pytest.approx([0.8, 0.7, 0.3, 0.6 * decay, 0.1 * decay], abs=1e-6)
    # Boxes come back un-shifted.
    assert boxes[2] == [1.0, 1, 11, 11]


def test_soft_nms_gaussian_matches_formula():
    nms = SoftNMS(method="gaussian", sigma=0.5)
    scores = torch.tensor([[0.9, 0.1], [0.8, 0.2]])
    inst, _ = fast_rcnn_inference_single_image(BOXES[:2], scores, (100, 100), 0.05, 0.5, 100, nms)
    assert inst.scores.tolist() == pytest.approx([0.9, 0.8 * math.exp(-(IOU01**2) / 0.5)])


def test_soft_nms_rejects_unknown_method():
    with pytest.raises(ValueError, match="model.roi_heads.method"):
        SoftNMS(method="lin")


def test_batch_function_forwards_per_image():
    insts, rois = fast_rcnn_inference(
        [BOXES, BOXES[:0]], [SCORES, SCORES[:0]], [(100, 100), (30, 30)], 0.05, 0.5, 2
    )
    assert [len(i) for i in insts] == [2, 0]
    assert insts[1].image_size == (30, 30)
    assert rois[0].tolist() == [2, 0]
    assert repr(HardNMS(0.5, 2)) == "HardNMS(iou_threshold=0.5, topk_per_image=2)"


def _predictor(**kwargs):
    torch.manual_seed(0)
    return FastRCNNOutputLayers(
        input_shape=ShapeSpec(channels=8),
        box2box_transform=Box2BoxTransform(weights=(10, 10, 5, 5)),
        num_classes=4,
        **kwargs,
    )


def _proposals():
    p0 = Instances((64, 64))
    p0.proposal_boxes = Boxes(torch.tensor([[0.0, 0, 20, 20], [10, 10, 40, 30], [5, 5, 15, 25]]))
    p0.gt_classes = torch.tensor([1, 4, 3])
    p0.gt_boxes = Boxes(torch.tensor([[2.0, 1, 22, 18], [0, 0, 1, 1], [4, 6, 16, 22]]))
    p1 = Instances((48, 48))  # an image without objects: background only, no gt_boxes
    p1.proposal_boxes = Boxes(torch.tensor([[1.0, 1, 9, 9]]))
    p1.gt_classes = torch.tensor([4])
    return [p0, p1]


def _reference_deltas(src, dst, weights=(10, 10, 5, 5)):
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    sw, sh = src[:, 2] - src[:, 0], src[:, 3] - src[:, 1]
    dw, dh = dst[:, 2] - dst[:, 0], dst[:, 3] - dst[:, 1]
    scx, scy = src[:, 0] + 0.5 * sw, src[:, 1] + 0.5 * sh
    dcx, dcy = dst[:, 0] + 0.5 * dw, dst[:, 1] + 0.5 * dh
    wx, wy, ww, wh = weights
    return np.stack(
        [wx * (dcx - scx) / sw, wy * (dcy - scy) / sh, ww * np.log(dw / sw), wh * np.log(dh / sh)],
        axis=1,
    )


def test_softmax_losses_match_reference():
    predictor = _predictor(cls_agnostic_bbox_reg=True)
    x = torch.randn(4, 8)
    scores, deltas = predictor(x)
    with EventStorage():
        losses = predictor.losses((scores, deltas), _proposals())
    expected_cls = F.cross_entropy(scores, torch.tensor([1, 4, 3, 4]))
    assert losses["loss_cls"].item() == pytest.approx(expected_cls.item(), rel=1e-6)
    props = _proposals()[0]
    fg = [0, 2]
    target = _reference_deltas(
        props.proposal_boxes.tensor[fg].numpy(), props.gt_boxes.tensor[fg].numpy()
    )
    expected_reg = np.abs(deltas[fg].detach().numpy() - target).sum() / 4
    assert losses["loss_box_reg"].item() == pytest.approx(expected_reg, rel=1e-5)


def test_loss_weight_dict_and_empty_batch():
    predictor = _predictor(loss_weight={"loss_cls": 2.0})
    scores, deltas = predictor(torch.randn(0, 8))
    with EventStorage():
        losses = predictor.losses((scores, deltas), [])
    assert losses["loss_cls"].item() == 0.0 and losses["loss_box_reg"].item() == 0.0
    losses["loss_cls"].backward()  # still connected to the graph


def test_fed_loss_classes_keep_gt_and_sample_by_weight():
    gt = torch.tensor([0, 2, 2, 4])  # K = 4; 4 is background
    weight = torch.tensor([5.0, 1.0, 5.0, 3.0])
    torch.manual_seed(0)
    counts = {1: 0, 3: 0}
    for _ in range(2000):
        classes = get_fed_loss_classes(gt, num_fed_loss_classes=4, num_classes=4, weight=weight)
        assert classes[:3].tolist() == [0, 2, 4]  # the unique GT classes, background included
        assert len(classes) == 4
        counts[int(classes[3])] += 1  # never a GT class or background
    assert counts[3] / 2000 == pytest.approx(0.75, abs=0.03)  # 3 / (1 + 3)
    enough = get_fed_loss_classes(gt, num_fed_loss_classes=2, num_classes=4, weight=weight)
    assert enough.tolist() == [0, 2, 4]


def test_get_fed_loss_cls_weights_reads_metadata():
    name = "_test_fed_loss_weights"
    MetadataCatalog.remove(name)
    MetadataCatalog.get(name).set(
        class_image_count=[{"id": 2, "image_count": 9}, {"id": 1, "image_count": 4}]
    )
    try:
        weights = get_fed_loss_cls_weights(name, 0.5)
        assert weights.tolist() == [2.0, 3.0]
        with pytest.raises(ValueError, match="class_image_count"):
            get_fed_loss_cls_weights("coco_2017_train", 0.5)
    finally:
        MetadataCatalog.remove(name)


def test_sigmoid_ce_with_fed_loss_matches_hand_computation():
    predictor = _predictor(
        use_sigmoid_ce=True,
        use_fed_loss=True,
        get_fed_loss_cls_weights=lambda: torch.tensor([1.0, 0.0, 0.0, 1.0]),
        fed_loss_num_classes=3,
    )
    assert predictor.state_dict()["fed_loss_cls_weights"].tolist() == [1.0, 0.0, 0.0, 1.0]
    logits = torch.randn(3, 5)
    gt = torch.tensor([1, 4, 3])  # unique {1, 3, 4}: already 3 classes, nothing sampled
    loss = predictor.sigmoid_cross_entropy_loss(logits, gt)
    target = torch.tensor([[0.0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]])
    bce = F.binary_cross_entropy_with_logits(logits[:, :4], target, reduction="none")
    expected = (bce[:, 1].sum() + bce[:, 3].sum()) / 3  # only classes 1 and 3 count
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_fed_loss_weights_can_be_given_as_a_tensor():
    predictor = _predictor(
        use_sigmoid_ce=True, use_fed_loss=True, get_fed_loss_cls_weights=torch.tensor([1, 2, 3, 4])
    )
    assert predictor.fed_loss_cls_weights.dtype == torch.float32
    assert predictor.fed_loss_cls_weights.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_modeling_does_not_import_data():
    # Layering: the box predictor takes the federated-loss weights, it never reads metadata.
    code = (
        "import sys, det.modeling, det.modeling.roi_heads; "
        "bad = sorted(m for m in sys.modules if m.startswith(('det.data', 'det.evaluation'))); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_fed_loss_checks():
    with pytest.raises(ValueError, match="use_sigmoid_ce"):
        _predictor(use_fed_loss=True, get_fed_loss_cls_weights=lambda: torch.ones(4))
    with pytest.raises(ValueError, match="num_classes=4"):
        _predictor(
            use_fed_loss=True, use_sigmoid_ce=True, get_fed_loss_cls_weights=lambda: torch.ones(3)
        )


def test_predict_probs_and_boxes_split_per_image():
    predictor = _predictor(use_sigmoid_ce=True)
    scores, deltas = predictor(torch.randn(4, 8, 1, 1))
    probs = predictor.predict_probs((scores, deltas), _proposals())
    assert [p.shape for p in probs] == [(3, 5), (1, 5)]
    # sigmoid of the whole batch vs of a slice: vectorized kernels may differ in the last bit.
    torch.testing.assert_close(probs[0], scores[:3].sigmoid(), rtol=1e-6, atol=1e-7)
    boxes = predictor.predict_boxes((scores, deltas), _proposals())
    assert [b.shape for b in boxes] == [(3, 16), (1, 16)]  # class-specific: K * 4
    insts, _ = predictor.inference((scores, deltas), _proposals())
    assert len(insts) == 2
