"""Backbones: the EVA-02 ViT, the ViTDet (MAE) ViT and the simple feature pyramid."""

from .backbone import Backbone
from .beit import BEiT
from .four_scale_neck import FourScaleNeck
from .lr_decay import get_vit_lr_decay_rate
from .mlp import Mlp
from .patch_embed import PatchEmbed
from .plain_vit import PlainViT
from .pos_embed import get_abs_pos, resize_pos_embed_grid
from .rel_pos_attention import RelPosAttention
from .residual_block import ResBottleneckBlock
from .rope import VisionRotaryEmbeddingFast, apply_rope, rope_2d_angles
from .rope_attention import RopeAttention
from .sfp import LastLevelMaxPool, SimpleFeaturePyramid
from .swiglu import SwiGLU
from .timm_hybrid import HybridPatchEmbed, timm_resnetv2_stem
from .timm_vit import TimmViT
from .vit import ViT
from .vit_adapter import ViTAdapter
from .vit_block import ViTBlock
from .vit_mae import ViTMAE
from .window import window_partition, window_unpartition

__all__ = [
    "BEiT",
    "Backbone",
    "FourScaleNeck",
    "HybridPatchEmbed",
    "LastLevelMaxPool",
    "Mlp",
    "PatchEmbed",
    "PlainViT",
    "RelPosAttention",
    "ResBottleneckBlock",
    "RopeAttention",
    "SimpleFeaturePyramid",
    "SwiGLU",
    "TimmViT",
    "ViT",
    "ViTBlock",
    "ViTAdapter",
    "ViTMAE",
    "VisionRotaryEmbeddingFast",
    "apply_rope",
    "get_abs_pos",
    "get_vit_lr_decay_rate",
    "resize_pos_embed_grid",
    "rope_2d_angles",
    "timm_resnetv2_stem",
    "window_partition",
    "window_unpartition",
]
