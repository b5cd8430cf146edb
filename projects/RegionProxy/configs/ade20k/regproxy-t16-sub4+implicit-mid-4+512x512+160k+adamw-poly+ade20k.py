"""RegProxy-Ti/16 (sub4 + implicit-mid-4), ADE20K, 512x512, 160k, poly: 42.1 mIoU ss, 43.1 ms+flip
(5.8M params).

Slide 512 windows at stride 512. Pretrained: ``train.init_checkpoint=/path/vit_tiny_patch16_384``
(AugReg).
"""

from ..common.regproxy import dataloader, lr_multiplier, model, optimizer, train

model.backbone.out_indices = [4, 11]
model.decode_head.in_features = ["b4", "b11"]

__all__ = ["dataloader", "lr_multiplier", "model", "optimizer", "train"]
