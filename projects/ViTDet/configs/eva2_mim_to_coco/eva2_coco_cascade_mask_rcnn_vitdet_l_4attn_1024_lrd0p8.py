"""EVA-02 L, COCO, 1024, 4 global blocks (5, 11, 17, 23), layer decay 0.8, lr 6e-5, batch 144."""

from functools import partial

from det.modeling.backbone import get_vit_lr_decay_rate

from ..common.eva2_cascade_coco import dataloader, lr_multiplier, model, optimizer, train

model.backbone.net.update(
    embed_dim=1024,
    depth=24,
    num_heads=16,
    drop_path_rate=0.4,
    window_block_indexes=[i for i in range(24) if i not in (5, 11, 17, 23)],
)
optimizer.params.lr_factor_func = partial(get_vit_lr_decay_rate, num_layers=24, lr_decay_rate=0.8)
optimizer.lr = 6e-5
dataloader.train.total_batch_size = 144
