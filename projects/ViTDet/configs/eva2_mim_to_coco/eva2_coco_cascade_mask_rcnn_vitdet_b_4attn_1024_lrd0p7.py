"""EVA-02 B, COCO, 1024, 4 global-attention blocks, layer decay 0.7: the base as it is."""

from ..common.eva2_cascade_coco import dataloader, lr_multiplier, model, optimizer, train
