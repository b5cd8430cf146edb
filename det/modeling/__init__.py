"""Models: backbones, proposal generators, RoI heads and meta-architectures.

``det.modeling.ema`` (model EMA; its training hook is ``det.engine.hooks.EMAHook``) is imported
on its own.
"""

from .anchor_generator import DefaultAnchorGenerator
from .backbone import Backbone, SimpleFeaturePyramid, ViT, ViTMAE, get_vit_lr_decay_rate
from .box_regression import Box2BoxTransform
from .matcher import Matcher
from .meta_arch import GeneralizedRCNN
from .poolers import ROIPooler
from .postprocessing import detector_postprocess, sem_seg_postprocess
from .proposal_generator import RPN, StandardRPNHead
from .roi_heads import (
    CascadeROIHeads,
    FastRCNNConvFCHead,
    FastRCNNOutputLayers,
    MaskRCNNConvUpsampleHead,
    ROIHeads,
    StandardROIHeads,
)
from .sampling import subsample_labels

__all__ = [
    "Backbone",
    "Box2BoxTransform",
    "CascadeROIHeads",
    "DefaultAnchorGenerator",
    "FastRCNNConvFCHead",
    "FastRCNNOutputLayers",
    "GeneralizedRCNN",
    "MaskRCNNConvUpsampleHead",
    "Matcher",
    "ROIHeads",
    "ROIPooler",
    "RPN",
    "SimpleFeaturePyramid",
    "StandardROIHeads",
    "StandardRPNHead",
    "ViT",
    "ViTMAE",
    "detector_postprocess",
    "get_vit_lr_decay_rate",
    "sem_seg_postprocess",
    "subsample_labels",
]
