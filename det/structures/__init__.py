"""Typed containers passed between det's modules: boxes, instances, image batches, masks."""

from .boxes import (
    Boxes,
    BoxMode,
    matched_pairwise_iou,
    pairwise_intersection,
    pairwise_ioa,
    pairwise_iou,
)
from .image_list import ImageList
from .instances import Instances
from .masks import BitMasks, PolygonMasks, ROIMasks, polygon_area, polygons_to_bitmask

__all__ = [
    "BitMasks",
    "BoxMode",
    "Boxes",
    "ImageList",
    "Instances",
    "PolygonMasks",
    "ROIMasks",
    "matched_pairwise_iou",
    "pairwise_intersection",
    "pairwise_ioa",
    "pairwise_iou",
    "polygon_area",
    "polygons_to_bitmask",
]
