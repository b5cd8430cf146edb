"""Base of the EVA-02 detection model cards: Cascade Mask R-CNN on the EVA-02 ViT, COCO, LSJ.

As given here it is the card ``eva2_coco_cascade_mask_rcnn_vitdet_b_4attn_1024_lrd0p7``: ViT-B,
1024 x 1024, 16 x 16 windows with global blocks 2, 5, 8, 11, drop path 0.1, AdamW lr 5e-5 with
layer-wise lr decay 0.7, batch 128, 60k iterations with steps at 48k and 54k, AMP. Model cards
change a few fields of it (see the table in the model card / spec).

One image size: ``model.backbone.net.img_size``; the square padding and the train / test
resolution of the loaders follow it.
"""

from functools import partial

from fvcore.common.param_scheduler import MultiStepParamScheduler

from det.config import LazyCall as L
from det.config import get_config
from det.modeling.backbone import get_vit_lr_decay_rate
from det.solver import WarmupParamScheduler

model = get_config("common/models/cascade_mask_rcnn_vitdet.py").model
dataloader = get_config("common/data/coco_lsj.py").dataloader
optimizer = get_config("common/optim.py").AdamW
train = get_config("common/train.py").train

dataloader.train.mapper.augmentations.image_size = "${model.backbone.net.img_size}"
dataloader.train.total_batch_size = 128

# EVA-02: weight decay 0.1 on every parameter (norms, biases and pos_embed included).
optimizer.lr = 5e-5
optimizer.params.weight_decay_norm = None
optimizer.params.overrides = {}
optimizer.params.lr_factor_func = partial(get_vit_lr_decay_rate, num_layers=12, lr_decay_rate=0.7)

train.max_iter = 60000
train.amp.enabled = True
train.ddp.fp16_compression = True
train.init_checkpoint = ""  # EVA-02 MIM weights: train.init_checkpoint=/path/eva02_*_p14to16.pt

lr_multiplier = L(WarmupParamScheduler)(
    scheduler=L(MultiStepParamScheduler)(
        values=[1.0, 0.1, 0.01], milestones=[48000, 54000], num_updates="${train.max_iter}"
    ),
    warmup_length=1000 / 60000,
    warmup_factor=0.001,
)
