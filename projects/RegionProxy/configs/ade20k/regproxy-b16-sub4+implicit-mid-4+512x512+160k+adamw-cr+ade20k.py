"""RegProxy-B/16 (sub4 + implicit-mid-4), ADE20K, 512x512, 160k, cosine restarts: 49.8 mIoU ss, 50.5
ms+flip (87M params).

Slide 512 windows at stride 512. DeiT's distillation token runs through the blocks (upstream
``deit=True``). Pretrained:
``train.init_checkpoint=/path/deit_base_distilled_patch16_384-d0272ac0.pth`` (DeiT).
"""

from det.config import LazyCall as L
from det.solver.mmcv_warmup import MMCVCosineRestartParamScheduler

from ..common.regproxy import dataloader, lr_multiplier, model, optimizer, train

model.backbone.update(embed_dim=768, depth=12, num_heads=12)
model.backbone.use_dist_token = True
model.backbone.out_indices = [4, 11]
model.decode_head.in_features = ["b4", "b11"]
lr_multiplier.scheduler = L(MMCVCosineRestartParamScheduler)(
    periods=[20000, 40000, 100000], restart_weights=[1.0, 0.5, 0.25], min_lr_ratio=0.0
)

__all__ = ["dataloader", "lr_multiplier", "model", "optimizer", "train"]
