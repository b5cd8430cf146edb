"""EVA-02 L on COCO: :mod:`eva2_cascade_coco` with the ViT-L trunk (width 1024, 24 blocks, 16
heads, drop path 0.4), global attention in blocks 5, 11, 17, 23 and layer-wise lr decay 0.8.

The base of every EVA-02 L model card (the LVIS and Objects365 cards take its trunk).
"""

from functools import partial

from det.modeling.backbone import get_vit_lr_decay_rate

from .eva2_cascade_coco import dataloader, lr_multiplier, model, optimizer, train

model.backbone.net.update(
    embed_dim=1024,
    depth=24,
    num_heads=16,
    drop_path_rate=0.4,
    window_block_indexes=[i for i in range(24) if i not in (5, 11, 17, 23)],
)
optimizer.params.lr_factor_func = partial(get_vit_lr_decay_rate, num_layers=24, lr_decay_rate=0.8)
