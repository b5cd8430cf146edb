"""ViT-Adapter-L (BEiT-L) + Mask2Former, ADE20K, 640 crop, 160k: 58.3 mIoU ss, 59.0 ms (568M).

The base recipe as it stands (:mod:`..common.mask2former_beit_adapter`). Pretrained:
``train.init_checkpoint=/path/beit_large_patch16_224_pt22k_ft22k.pth``.
"""

from ..common.mask2former_beit_adapter import dataloader, lr_multiplier, model, optimizer, train

__all__ = ["dataloader", "lr_multiplier", "model", "optimizer", "train"]
