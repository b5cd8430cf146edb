"""RegProxy-R26+ViT-S/32 (sub4 + implicit-mid-n1), ADE20K, 512x512, 160k, poly: 47.8 mIoU ss, 49.1
ms+flip (36M params).

Slide 512 windows at stride 512. The affinity branch reads the embedded hybrid tokens (block
input, ``b-1``). Pretrained: ``train.init_checkpoint=/path/vit_small_r26_s32_384`` (AugReg
hybrid).
"""

from det.config import LazyCall as L
from det.modeling.backbone import HybridPatchEmbed, timm_resnetv2_stem

from ..common.regproxy import dataloader, lr_multiplier, model, optimizer, train

model.backbone.update(embed_dim=384, depth=12, num_heads=6)
model.backbone.patch_size = 32
model.backbone.patch_embed = L(HybridPatchEmbed)(
    backbone=L(timm_resnetv2_stem)(layers=(2, 2, 2, 2)),
    feature_channels=2048,
    embed_dim="${..embed_dim}",
)
model.backbone.out_indices = [-1, 11]
model.decode_head.in_features = ["b-1", "b11"]

__all__ = ["dataloader", "lr_multiplier", "model", "optimizer", "train"]
