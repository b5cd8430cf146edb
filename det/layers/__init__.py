"""Basic layers shared by all models: conv/norm wrappers, NMS, RoIAlign, shape records."""

from .drop_path import DropPath
from .mask_ops import paste_masks_in_image
from .ms_deform_attn import MSDeformAttn, ms_deform_attn
from .nms import batched_nms, nms
from .norm import FrozenBatchNorm2d, LayerNorm, NaiveSyncBatchNorm, get_norm
from .roi_align import ROIAlign
from .shape_spec import ShapeSpec
from .soft_nms import batched_soft_nms, soft_nms
from .weight_init import c2_msra_fill, c2_xavier_fill
from .wrappers import (
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Linear,
    cat,
    interpolate,
    move_device_like,
    nonzero_tuple,
    shapes_to_tensor,
)

# Other files add one import line above and their names below.
__all__ = [
    "BatchNorm2d",
    "Conv2d",
    "ConvTranspose2d",
    "DropPath",
    "FrozenBatchNorm2d",
    "LayerNorm",
    "Linear",
    "MSDeformAttn",
    "NaiveSyncBatchNorm",
    "ROIAlign",
    "ShapeSpec",
    "batched_nms",
    "batched_soft_nms",
    "c2_msra_fill",
    "c2_xavier_fill",
    "cat",
    "get_norm",
    "interpolate",
    "move_device_like",
    "ms_deform_attn",
    "nms",
    "nonzero_tuple",
    "paste_masks_in_image",
    "shapes_to_tensor",
    "soft_nms",
]
