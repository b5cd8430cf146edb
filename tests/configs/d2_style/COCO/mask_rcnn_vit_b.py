"""A ViTDet-style COCO config: ViT-B Mask R-CNN, short schedule, layer-wise lr decay."""

from functools import partial

from fvcore.common.param_scheduler import MultiStepParamScheduler

from det import model_zoo
from det.config import LazyCall as L
from det.modeling.backbone.vit import get_vit_lr_decay_rate
from det.solver import WarmupParamScheduler

from ..common.coco_lsj_1024 import dataloader  # noqa: F401

model = model_zoo.get_config("common/models/mask_rcnn_vitdet.py").model
constants = model_zoo.get_config("common/data/constants.py").constants
model.pixel_mean = constants.imagenet_rgb256_mean
model.pixel_std = constants.imagenet_rgb256_std

train = model_zoo.get_config("common/train.py").train
train.amp.enabled = True
train.max_iter = 1000

lr_multiplier = L(WarmupParamScheduler)(
    scheduler=L(MultiStepParamScheduler)(
        values=[1.0, 0.1], milestones=[900], num_updates=train.max_iter
    ),
    warmup_length=10 / train.max_iter,
    warmup_factor=0.001,
)

optimizer = model_zoo.get_config("common/optim.py").AdamW
optimizer.params.lr_factor_func = partial(get_vit_lr_decay_rate, num_layers=12, lr_decay_rate=0.7)
