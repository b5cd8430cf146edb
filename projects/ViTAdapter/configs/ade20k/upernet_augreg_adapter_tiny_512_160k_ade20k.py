"""ViT-Adapter-T (AugReg-T) + UperNet, ADE20K, 512 crop, 160k: 43.9 mIoU ss, 44.8 ms (36M params).

The DeiT-T recipe with the AugReg ImageNet-22K weights: ``train.init_checkpoint=/path/
Ti_16-i21k-300ep-lr_0.001-aug_none-wd_0.03-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.03-res_224.pth``
(a ``.npz`` of the original release must be converted to a timm ``.pth`` first).
"""

from ..common.upernet_vit_adapter import dataloader, lr_multiplier, model, optimizer, train

__all__ = ["dataloader", "lr_multiplier", "model", "optimizer", "train"]
