"""det: a LazyConfig-driven detection and segmentation codebase (EVA-02, ViTDet, Mask2Former).

Importing ``det`` is cheap: subpackages are imported on demand.
"""

__version__ = "0.1.0"
