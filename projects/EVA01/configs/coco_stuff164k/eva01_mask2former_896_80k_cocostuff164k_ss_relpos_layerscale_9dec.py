"""EVA-01 + ViT-Adapter + Mask2Former, COCO-Stuff-164K, 896 crop, 80k, batch 32: 53.2 mIoU ss.
With a per-block relative position bias (56 x 56 grid) and layer scale 1.0, both learned from
scratch (the pre-trained file has neither), 9 decoder layers, lr 1e-5, layer decay 0.95, eval
every 1000 iterations. ``train.init_checkpoint=/path/eva_psz14to16.pt``.
"""

from ..common.mask2former_eva01_adapter import dataloader, lr_multiplier, model, optimizer, train

model.backbone.vit.use_rel_pos_bias = True
model.backbone.vit.init_values = 1.0
model.sem_seg_head.predictor.dec_layers = 9
optimizer.lr = 1e-5
train.max_iter = 80000
train.eval_period = 1000
lr_multiplier.warmup_length = 1500 / 80000
