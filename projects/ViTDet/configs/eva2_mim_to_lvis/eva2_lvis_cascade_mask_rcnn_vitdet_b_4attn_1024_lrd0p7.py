"""EVA-02 B, LVIS v1, 1024, 4 global blocks, layer decay 0.7: the LVIS base as it is."""

from ..common.eva2_cascade_lvis import dataloader, lr_multiplier, model, optimizer, train
