"""ViT-Adapter-L (BEiT-L) + UperNet, ADE20K, 640 crop, 160k: 58.0 mIoU ss, 58.4 ms (451M).

The base recipe as it stands (:mod:`..common.upernet_beit_adapter`). Pretrained:
``train.init_checkpoint=/path/beit_large_patch16_224_pt22k_ft22k.pth``.
"""

from ..common.upernet_beit_adapter import dataloader, lr_multiplier, model, optimizer, train

__all__ = ["dataloader", "lr_multiplier", "model", "optimizer", "train"]
