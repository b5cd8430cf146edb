"""An EVA-02-style card, meant to sit in det's ``projects/ViTDet/configs/eva2_mim_to_coco/``:
the fork's sibling chain (``.cascade_mask_rcnn_vitdet_b_100ep``, ``..common.coco_loader_lsj_*``)
with every backbone field set the way the fork's cards set them."""

from functools import partial

from ..common.coco_loader_lsj_1536 import dataloader
from .cascade_mask_rcnn_vitdet_b_100ep import (
    get_vit_lr_decay_rate,
    lr_multiplier,
    model,
    optimizer,
    train,
)

model.backbone.net.img_size = 1536
model.backbone.square_pad = 1536
model.backbone.net.window_size = 32
model.backbone.net.mlp_ratio = 4 * 2 / 3
model.backbone.net.drop_path_rate = 0.1
model.backbone.net.window_block_indexes = [0, 2, 4, 6, 8, 10]  # global: 1, 3, 5, 7, 9, 11

optimizer.lr = 5e-5
optimizer.params.lr_factor_func = partial(get_vit_lr_decay_rate, lr_decay_rate=0.7, num_layers=12)
optimizer.params.overrides = {}
optimizer.params.weight_decay_norm = None

train.max_iter = 60000
lr_multiplier.scheduler.milestones = [48000, 54000]
lr_multiplier.scheduler.num_updates = train.max_iter
lr_multiplier.warmup_length = 1000 / train.max_iter
dataloader.train.total_batch_size = 128
