"""EVA-02 B, COCO, 1536, 32 x 32 windows with 6 global blocks (1, 3, 5, 7, 9, 11)."""

from ..common.eva2_cascade_coco import dataloader, lr_multiplier, model, optimizer, train

model.backbone.net.update(
    img_size=1536,
    window_size=32,
    window_block_indexes=[i for i in range(12) if i not in (1, 3, 5, 7, 9, 11)],
)
