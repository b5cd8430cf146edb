"""RegProxy-L/16 (sub4 + implicit-mid-5), Cityscapes, 768x768, 80k, cosine restarts: 81.4 mIoU ss,
82.7 ms+flip (307M params).

Slide 768 windows at stride 512 on the full 2048 x 1024 frames. Pretrained:
``train.init_checkpoint=/path/vit_large_patch16_384`` (AugReg).
"""

from det.config import LazyCall as L
from det.config import get_config
from det.solver.mmcv_warmup import MMCVCosineRestartParamScheduler

from ..common.regproxy import lr_multiplier, model, optimizer, train

dataloader = get_config("common/data/cityscapes_semseg.py").dataloader
model.decode_head.num_classes = 19
model.backbone.update(embed_dim=1024, depth=24, num_heads=16)
model.backbone.pretrain_img_size = 768
model.backbone.out_indices = [5, 23]
model.decode_head.in_features = ["b5", "b23"]
model.inference.update(crop_size=(768, 768), stride=(512, 512))
model.train_pad_size = 768
lr_multiplier.scheduler = L(MMCVCosineRestartParamScheduler)(
    periods=[10000, 20000, 50000], restart_weights=[1.0, 0.5, 0.25], min_lr_ratio=0.0
)
lr_multiplier.warmup_length = 1500 / 80000
train.max_iter = 80000
train.checkpointer.period = 2000
train.eval_period = 2000

__all__ = ["dataloader", "lr_multiplier", "model", "optimizer", "train"]
