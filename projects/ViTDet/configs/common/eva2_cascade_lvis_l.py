"""EVA-02 L on LVIS v1: :mod:`eva2_cascade_lvis` with the ViT-L trunk and layer-wise lr decay
of :mod:`eva2_cascade_coco_l`, 40k iterations with steps at 32k and 36k."""

from .eva2_cascade_coco_l import model as _coco_l_model
from .eva2_cascade_coco_l import optimizer as _coco_l_optimizer
from .eva2_cascade_lvis import dataloader, lr_multiplier, model, optimizer, train

model.backbone = _coco_l_model.backbone
optimizer.params.lr_factor_func = _coco_l_optimizer.params.lr_factor_func
train.max_iter = 40000
lr_multiplier.scheduler.milestones = [32000, 36000]
lr_multiplier.warmup_length = 1000 / 40000
