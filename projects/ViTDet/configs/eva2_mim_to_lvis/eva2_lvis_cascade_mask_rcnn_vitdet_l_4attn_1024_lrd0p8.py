"""EVA-02 L, LVIS v1, 1024, 4 global blocks (5, 11, 17, 23), layer decay 0.8, 40k iterations:
the LVIS L base as it is."""

from ..common.eva2_cascade_lvis_l import dataloader, lr_multiplier, model, optimizer, train
