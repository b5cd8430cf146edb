"""EVA-02 L on COCO at 1536 x 1536 with 8 global-attention blocks (every third:
2, 5, ..., 23) and 16 x 16 windows elsewhere: :mod:`eva2_cascade_coco_l` at the resolution of
the large cards, which change the window size, activation checkpointing or drop path."""

from .eva2_cascade_coco_l import dataloader, lr_multiplier, model, optimizer, train

model.backbone.net.update(
    img_size=1536,
    window_block_indexes=[i for i in range(24) if i % 3 != 2],
)
