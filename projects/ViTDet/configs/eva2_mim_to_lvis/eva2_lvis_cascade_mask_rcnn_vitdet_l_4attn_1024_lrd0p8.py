"""EVA-02 L, LVIS v1, 1024, 4 global blocks (5, 11, 17, 23), layer decay 0.8, 40k iterations."""

from functools import partial

from det.modeling.backbone import get_vit_lr_decay_rate

from ..common.eva2_cascade_lvis import dataloader, lr_multiplier, model, optimizer, train

model.backbone.net.update(
    embed_dim=1024,
    depth=24,
    num_heads=16,
    drop_path_rate=0.4,
    window_block_indexes=[i for i in range(24) if i not in (5, 11, 17, 23)],
)
optimizer.params.lr_factor_func = partial(get_vit_lr_decay_rate, num_layers=24, lr_decay_rate=0.8)
train.max_iter = 40000
lr_multiplier.scheduler.milestones = [32000, 36000]
lr_multiplier.warmup_length = 1000 / 40000
