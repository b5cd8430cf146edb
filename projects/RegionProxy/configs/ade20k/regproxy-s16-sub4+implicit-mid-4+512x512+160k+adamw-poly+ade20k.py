"""RegProxy-S/16 (sub4 + implicit-mid-4), ADE20K, 512x512, 160k, poly: 47.6 mIoU ss, 48.5 ms+flip
(22M params).

Slide 512 windows at stride 512. Pretrained:
``train.init_checkpoint=/path/vit_small_patch16_384`` (AugReg).
"""

from ..common.regproxy import dataloader, lr_multiplier, model, optimizer, train

model.backbone.update(embed_dim=384, depth=12, num_heads=6)
model.backbone.out_indices = [4, 11]
model.decode_head.in_features = ["b4", "b11"]

__all__ = ["dataloader", "lr_multiplier", "model", "optimizer", "train"]
