"""RoI heads: box / mask heads, the Fast R-CNN predictor, standard and cascade heads, and
test-time detection selection (``DetectionSelector``: EVA-02's soft-NMS, score-threshold override
and maskness rescoring)."""

from .box_head import FastRCNNConvFCHead
from .box_nms import BoxNMS, HardNMS, SoftNMS
from .cascade_rcnn import CascadeROIHeads
from .fast_rcnn import (
    FastRCNNOutputLayers,
    fast_rcnn_inference,
    fast_rcnn_inference_single_image,
    get_fed_loss_classes,
)
from .mask_head import MaskRCNNConvUpsampleHead, mask_rcnn_inference, mask_rcnn_loss
from .maskness import MasknessRescoring, mask_maskness
from .roi_heads import (
    NumClassesMismatchError,
    ROIHeads,
    StandardROIHeads,
    select_foreground_proposals,
)
from .test_selection import DetectionSelector, UnknownTestOptionError, build_test_selection

__all__ = [
    "BoxNMS",
    "CascadeROIHeads",
    "DetectionSelector",
    "FastRCNNConvFCHead",
    "FastRCNNOutputLayers",
    "HardNMS",
    "MaskRCNNConvUpsampleHead",
    "MasknessRescoring",
    "NumClassesMismatchError",
    "ROIHeads",
    "SoftNMS",
    "StandardROIHeads",
    "UnknownTestOptionError",
    "build_test_selection",
    "fast_rcnn_inference",
    "fast_rcnn_inference_single_image",
    "get_fed_loss_classes",
    "mask_maskness",
    "mask_rcnn_inference",
    "mask_rcnn_loss",
    "select_foreground_proposals",
]
