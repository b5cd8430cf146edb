"""EVA-02 L fine-tuned from Objects365 to COCO: 1536, 16 x 16 windows with 8 global blocks,
drop path 0.3, activation checkpointing, lr 4e-5 constant after a 1% warm-up, batch 64, 40k
iterations, model EMA (0.9999).

Start from the Objects365 weights: ``train.init_checkpoint=/path/eva02_L_m38m_to_o365.pth``
(the fork inherited an unrelated MAE URL here; det keeps no default weights).
"""

from functools import partial

from fvcore.common.param_scheduler import CosineParamScheduler

from det.config import LazyCall as L
from det.modeling.backbone import get_vit_lr_decay_rate
from det.solver import WarmupParamScheduler

from ..common.eva2_cascade_coco import dataloader, model, optimizer, train

model.backbone.net.update(
    img_size=1536,
    embed_dim=1024,
    depth=24,
    num_heads=16,
    drop_path_rate=0.3,
    window_block_indexes=[i for i in range(24) if i % 3 != 2],
    use_act_checkpoint=True,
)
optimizer.params.lr_factor_func = partial(get_vit_lr_decay_rate, num_layers=24, lr_decay_rate=0.8)
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
