"""ViT-Adapter: spatial prior module and injector/extractor interactions around a plain ViT."""

from .adapter import ViTAdapter, ViTAdapterConfigError
from .geometry import DeformInputs, adapter_deform_inputs, grid_reference_points
from .interaction import ConvFFN, DWConv, Extractor, Injector, InteractionBlock
from .spatial_prior import SpatialPriorModule

__all__ = [
    "ConvFFN",
    "DWConv",
    "DeformInputs",
    "Extractor",
    "Injector",
    "InteractionBlock",
    "SpatialPriorModule",
    "ViTAdapter",
    "ViTAdapterConfigError",
    "adapter_deform_inputs",
    "grid_reference_points",
]
