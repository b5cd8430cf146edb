"""EVA-02 L, LVIS v1, 1536, 32 x 32 windows with 8 global blocks (every third), layer decay
0.8, activation checkpointing, 40k iterations: the LVIS L base with the backbone of the COCO
card of the same name."""

from ..common.eva2_cascade_lvis_l import dataloader, lr_multiplier, model, optimizer, train
from ..eva2_mim_to_coco.eva2_coco_cascade_mask_rcnn_vitdet_l_8attn_win32_1536_lrd0p8 import (
    model as _coco_model,
)

model.backbone = _coco_model.backbone
