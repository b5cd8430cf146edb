"""EVA-02 L, COCO, 1536, 32 x 32 windows with 8 global blocks (every third), layer decay 0.8,
activation checkpointing."""

from functools import partial

from det.modeling.backbone import get_vit_lr_decay_rate

from ..common.eva2_cascade_coco import dataloader, lr_multiplier, model, optimizer, train

model.backbone.net.update(
    img_size=1536,
    embed_dim=1024,
    depth=24,
    num_heads=16,
    drop_path_rate=0.4,
    window_size=32,
    window_block_indexes=[i for i in range(24) if i % 3 != 2],
    use_act_checkpoint=True,
)
optimizer.params.lr_factor_func = partial(get_vit_lr_decay_rate, num_layers=24, lr_decay_rate=0.8)
