"""EVA-02 L, COCO, 1536, 32 x 32 windows with 8 global blocks (every third), layer decay 0.8,
activation checkpointing."""

from ..common.eva2_cascade_coco_l_8attn_1536 import (
    dataloader,
    lr_multiplier,
    model,
    optimizer,
    train,
)

model.backbone.net.update(window_size=32, use_act_checkpoint=True)
