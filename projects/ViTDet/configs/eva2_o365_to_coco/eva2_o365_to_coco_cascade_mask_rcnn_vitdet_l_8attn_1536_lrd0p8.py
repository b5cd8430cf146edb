"""EVA-02 L fine-tuned from Objects365 to COCO: 1536, 16 x 16 windows with 8 global blocks,
drop path 0.3, activation checkpointing, lr 4e-5 constant after a 1% warm-up, batch 64, 40k
iterations, model EMA (0.9999).

Start from the Objects365 weights: ``train.init_checkpoint=/path/eva02_L_m38m_to_o365.pth``
(the fork inherited an unrelated MAE URL here; det keeps no default weights).
"""

from fvcore.common.param_scheduler import CosineParamScheduler

from det.config import LazyCall as L
from det.solver import WarmupParamScheduler

from ..common.eva2_cascade_coco_l_8attn_1536 import dataloader, model, optimizer, train

model.backbone.net.update(drop_path_rate=0.3, use_act_checkpoint=True)
optimizer.lr = 4e-5
dataloader.train.total_batch_size = 64

train.max_iter = 40000
train.model_ema.enabled = True
train.model_ema.decay = 0.9999
# Cosine from 1 to 1: a constant learning rate, as EVA-02 fine-tunes from Objects365.
lr_multiplier = L(WarmupParamScheduler)(
    scheduler=L(CosineParamScheduler)(start_value=1.0, end_value=1.0),
    warmup_length=0.01,
    warmup_factor=0.001,
)
