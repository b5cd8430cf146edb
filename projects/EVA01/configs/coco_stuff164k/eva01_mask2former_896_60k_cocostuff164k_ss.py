"""EVA-01 + ViT-Adapter + Mask2Former, COCO-Stuff-164K, 896 crop, 60k, batch 32: 53.4 mIoU ss
(released 53.36). No relative position bias, no layer scale, 8 decoder layers, lr 1.5e-5,
layer decay 0.95. ``train.init_checkpoint=/path/eva_psz14to16.pt``.
"""

from ..common.mask2former_eva01_adapter import dataloader, lr_multiplier, model, optimizer, train

__all__ = ["dataloader", "lr_multiplier", "model", "optimizer", "train"]
