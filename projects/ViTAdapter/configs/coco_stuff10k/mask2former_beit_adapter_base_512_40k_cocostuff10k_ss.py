"""ViT-Adapter-B (BEiT-B) + Mask2Former, COCO-Stuff-10K (171 classes), 512 crop, 40k: 50.0 mIoU
ss, 50.5 ms (120M). Train resize (2048, 512) x [0.5, 2], windows 512 at stride 341, eval every
4000 iterations. Pretrained: ``train.init_checkpoint=/path/beit_base_patch16_224_pt22k_ft22k.pth``.
"""

from ..common.mask2former_beit_adapter_base import (
    dataloader,
    lr_multiplier,
    model,
    optimizer,
    train,
)

__all__ = ["dataloader", "lr_multiplier", "model", "optimizer", "train"]
