"""ViTDet's ``COCO/mask_rcnn_vitdet_b_100ep`` recipe in det: Mask R-CNN, ViT-B, LSJ 1024, batch
64, 184375 iterations (100 epochs) with steps at 163889 / 177546, AdamW with layer-wise lr decay
0.7 and no weight decay on ``pos_embed``, AMP.

The backbone is ``common/models/mask_rcnn_vitdet.py``, which in det (as in the EVA-02 fork,
whose model-card chain imports this file) is the EVA-02 ViT. For upstream's MAE ViTDet backbone
(GELU MLP, relative position bias) use ``common/models/mask_rcnn_vitdet_mae.py`` instead.
"""

from functools import partial

from fvcore.common.param_scheduler import MultiStepParamScheduler

from det import model_zoo
from det.config import LazyCall as L
from det.modeling.backbone.vit import get_vit_lr_decay_rate
from det.solver import WarmupParamScheduler

from ..common.coco_loader_lsj import dataloader

model = model_zoo.get_config("common/models/mask_rcnn_vitdet.py").model

train = model_zoo.get_config("common/train.py").train
train.amp.enabled = True
train.ddp.fp16_compression = True
train.max_iter = 184375  # 100 epochs of 118k images at batch 64

lr_multiplier = L(WarmupParamScheduler)(
    scheduler=L(MultiStepParamScheduler)(
        values=[1.0, 0.1, 0.01],
        milestones=[163889, 177546],
        num_updates="${train.max_iter}",
    ),
    warmup_length=250 / 184375,
    warmup_factor=0.001,
)

optimizer = model_zoo.get_config("common/optim.py").AdamW
optimizer.params.lr_factor_func = partial(get_vit_lr_decay_rate, num_layers=12, lr_decay_rate=0.7)
optimizer.params.overrides = {"pos_embed": {"weight_decay": 0.0}}
