"""EVA-01 + ViT-Adapter + Mask2Former (relative position bias, layer scale, 9 decoder layers),
ADE20K fine-tuned from the COCO-Stuff 53.2 relpos model, 896 crop, 40k, batch 32: 61.5 mIoU ss
(released 61.54). lr 1e-5, layer decay 0.9, 1500 warm-up iterations, eval every 1000.
``train.init_checkpoint=/path/<coco-stuff relpos run>/model_final.pth`` (class head skipped).
"""

from ..coco_stuff164k.eva01_mask2former_896_80k_cocostuff164k_ss_relpos_layerscale_9dec import (
    lr_multiplier,
    model,
    optimizer,
    train,
)
from .eva01_mask2former_896_20k_coco164k2ade20k_ss import dataloader

dataloader.train.total_batch_size = 32
model.sem_seg_head.predictor.num_classes = 150
optimizer.params.layer_decay_rate = 0.9
train.max_iter = 40000
lr_multiplier.warmup_length = 1500 / 40000
