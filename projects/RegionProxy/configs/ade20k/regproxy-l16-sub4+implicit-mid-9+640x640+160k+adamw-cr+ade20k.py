"""RegProxy-L/16 (sub4 + implicit-mid-9), ADE20K, 640x640, 160k, cosine restarts: 52.9 mIoU ss, 53.4
ms+flip (306M params).

Slide 640 windows at stride 640. Pretrained:
``train.init_checkpoint=/path/vit_large_patch16_384`` (AugReg).
"""

from det.config import LazyCall as L
from det.solver.mmcv_warmup import MMCVCosineRestartParamScheduler

from ..common.regproxy import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.mapper.augmentations.crop_size = 640
model.backbone.update(embed_dim=1024, depth=24, num_heads=16)
model.backbone.pretrain_img_size = 640
model.backbone.out_indices = [9, 23]
model.decode_head.in_features = ["b9", "b23"]
model.inference.update(crop_size=(640, 640), stride=(640, 640))
model.train_pad_size = 640
lr_multiplier.scheduler = L(MMCVCosineRestartParamScheduler)(
    periods=[20000, 40000, 100000], restart_weights=[1.0, 0.5, 0.25], min_lr_ratio=0.0
)

__all__ = ["dataloader", "lr_multiplier", "model", "optimizer", "train"]
