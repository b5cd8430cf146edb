"""The COCO sibling with three cascade stages, heads written out as users do."""

from det.config import LazyCall as L
from det.layers import ShapeSpec
from det.modeling.box_regression import Box2BoxTransform
from det.modeling.matcher import Matcher
from det.modeling.roi_heads import CascadeROIHeads, FastRCNNConvFCHead, FastRCNNOutputLayers

from .mask_rcnn_vit_b import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

for _key in ["box_head", "box_predictor", "proposal_matcher"]:
    model.roi_heads.pop(_key)

model.roi_heads.update(
    _target_=CascadeROIHeads,
    box_heads=[
        L(FastRCNNConvFCHead)(
            input_shape=L(ShapeSpec)(channels=256, height=7, width=7),
            conv_dims=[256] * 4,
            fc_dims=[1024],
            conv_norm="LN",
        )
        for _stage in range(3)
    ],
    box_predictors=[
        L(FastRCNNOutputLayers)(
            input_shape=L(ShapeSpec)(channels=1024),
            test_score_thresh=0.05,
            box2box_transform=L(Box2BoxTransform)(weights=(10 * k, 10 * k, 5 * k, 5 * k)),
            cls_agnostic_bbox_reg=True,
            num_classes="${...num_classes}",
        )
        for k in (1, 2, 3)
    ],
    proposal_matchers=[
        L(Matcher)(thresholds=[iou], labels=[0, 1], allow_low_quality_matches=False)
        for iou in (0.5, 0.6, 0.7)
    ],
)
