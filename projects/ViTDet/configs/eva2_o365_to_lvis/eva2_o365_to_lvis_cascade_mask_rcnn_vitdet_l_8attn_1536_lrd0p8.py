"""EVA-02 L fine-tuned from Objects365 to LVIS v1: the O365 -> COCO recipe with the LVIS heads
and data, 70k iterations, evaluation / checkpoints every 5000.

Start from ``train.init_checkpoint=/path/eva02_L_in21k_to_o365.pth``.
"""

from ..common.eva2_cascade_lvis import dataloader
from ..common.eva2_cascade_lvis import model as _lvis_model
from ..eva2_o365_to_coco.eva2_o365_to_coco_cascade_mask_rcnn_vitdet_l_8attn_1536_lrd0p8 import (
    lr_multiplier,
    model,
    optimizer,
    train,
)

model.roi_heads = _lvis_model.roi_heads
dataloader.train.total_batch_size = 64
train.max_iter = 70000
train.eval_period = 5000
train.checkpointer.period = 5000
