"""RoI heads: box / mask heads, the Fast R-CNN predictor, standard and cascade heads, and the
test-time options of EVA-02 (soft-NMS, score-threshold override, maskness rescoring)."""

from .box_head import FastRCNNConvFCHead
from .box_nms import BoxNMS, HardNMS, SoftNMS
from .cascade_rcnn import CascadeROIHeads
from .fast_rcnn import (
    FastRCNNOutputLayers,
    fast_rcnn_inference,
    fast_rcnn_inference_single_image,
    get_fed_loss_classes,
    get_fed_loss_cls_weights,
)
from .mask_head import MaskRCNNConvUpsampleHead, mask_rcnn_inference, mask_rcnn_loss
from .maskness import MasknessRescoring, mask_maskness
from .roi_heads import (
    NumClassesMismatchError,
    ROIHeads,
    StandardROIHeads,
    select_foreground_proposals,
)

__all__ = [
    "BoxNMS",
    "CascadeROIHeads",
    "FastRCNNConvFCHead",
    "FastRCNNOutputLayers",
    "HardNMS",
    "MaskRCNNConvUpsampleHead",
    "MasknessRescoring",
    "NumClassesMismatchError",
    "ROIHeads",
    "SoftNMS",
    "StandardROIHeads",
    "fast_rcnn_inference",
    "fast_rcnn_inference_single_image",
    "get_fed_loss_classes",
    "get_fed_loss_cls_weights",
    "mask_maskness",
    "mask_rcnn_inference",
    "mask_rcnn_loss",
    "select_foreground_proposals",
]
