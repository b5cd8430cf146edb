"""Mask R-CNN on the original ViTDet backbone (MAE-pretrained ViT-B: GELU MLP, fused qkv,
decomposed relative position bias, 14 x 14 windows), as upstream detectron2's
``mask_rcnn_vitdet.py``; everything but the backbone as in :mod:`mask_rcnn_vitdet`."""

from functools import partial

from torch import nn

from det.config import LazyCall as L
from det.modeling import ViTMAE

from .mask_rcnn_vitdet import model

model.backbone.net = L(ViTMAE)(
    img_size=1024,
    patch_size=16,
    embed_dim=768,
    depth=12,
    num_heads=12,
    drop_path_rate=0.1,
    window_size=14,
    mlp_ratio=4,
    qkv_bias=True,
    norm_layer=partial(nn.LayerNorm, eps=1e-6),
    window_block_indexes=[0, 1, 3, 4, 6, 7, 9, 10],
    residual_block_indexes=[],
    use_rel_pos=True,
    out_feature="last_feat",
)
