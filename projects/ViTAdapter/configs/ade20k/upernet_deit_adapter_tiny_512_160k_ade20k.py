"""ViT-Adapter-T (DeiT-T) + UperNet, ADE20K, 512 crop, 160k: 42.6 mIoU ss, 43.6 ms (36M params).

Pretrained: ``train.init_checkpoint=/path/deit_tiny_patch16_224-a1311bcf.pth``.
"""

from ..common.upernet_vit_adapter import dataloader, lr_multiplier, model, optimizer, train

__all__ = ["dataloader", "lr_multiplier", "model", "optimizer", "train"]
