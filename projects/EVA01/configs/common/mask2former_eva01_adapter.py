"""Base of the EVA-01 semantic segmentation configs: EVA-01 ViT-g (1B) + ViT-Adapter +
Mask2Former, EVA's 896 recipe (spec ``mask2former_semseg.md`` Secs. 2.2, 3, 5.3). As given here:
the ``eva_mask2former_896_60k_cocostuff164k_ss`` run (COCO-Stuff-164K, 171 classes, 53.4 mIoU ss).

* backbone: EVA-01 ViT-g with 16-pixel patches (1408 wide, 40 blocks, 16 heads, MLP 6144,
  q / v biases, absolute positions for the 56 x 56 grid added without interpolation, none for
  the cls token, drop path 0.5), no relative position bias and no layer scale (the
  ``relpos_layerscale`` cards add both, learned from scratch); ViT-Adapter with 4 interactions
  of 10 blocks, 16 deformable heads, value ratio 0.5, ConvFFN 0.25 with drop path 0.5, injector
  gamma 0, SyncBN; activation checkpointing everywhere; outputs res2-res5, 1408 channels each;
* head: Mask2Former 1024 wide (input projections 1408 -> 1024), 6 deformable encoder layers with
  32 heads and FFN 4096, 200 queries, 8 decoder layers (mmseg's count; 9 supervised
  predictions), CE 2 (no-object 0.1), mask BCE 5, dice 5 on 12544 points;
* test: 896 x 896 windows at stride 512 (inputs are resized to short side 896, long side at
  most 3584, sides rounded up to 32);
* optimizer: AdamW (0.9, 0.999), lr 1.5e-5, weight decay 0.05 except 1-D parameters and biases,
  mmseg's layer decay 0.95 over 40 layers with the decoder queries and class / mask heads at
  layer 0; fp32, no clipping; batch 32;
* schedule: mmcv poly (power 1) with mmcv's linear warm-up of 1500 iterations from 1e-6.

Pretrained: ``train.init_checkpoint=/path/eva_psz14to16.pt`` (the 14-pixel file also loads: its
kernel is resized on the way in).
"""

import torch
from fvcore.common.param_scheduler import PolynomialDecayParamScheduler

from det.config import LazyCall as L
from det.config import get_config
from det.solver.layer_decay import get_layer_decay_optimizer_params
from det.solver.mmcv_warmup import MMCVWarmupParamScheduler

CROP = 896

model = get_config("common/models/mask2former_vit_adapter.py").model

dataloader = get_config("common/data/coco_stuff_semseg.py").dataloader
dataloader.train.mapper.augmentations.crop_size = CROP
dataloader.train.total_batch_size = 32

optimizer = L(torch.optim.AdamW)(
    params=L(get_layer_decay_optimizer_params)(
        base_lr="${..lr}",
        weight_decay="${..weight_decay}",
        layer_decay_rate=0.95,
        num_layers="${...model.backbone.vit.depth}",
        vit_prefix="backbone.vit.",
        layer0_prefixes=[
            f"sem_seg_head.predictor.{name}"
            for name in ("query_feat", "query_embed", "level_embed", "class_embed", "mask_embed")
        ],
    ),
    lr=1.5e-5,
    betas=(0.9, 0.999),
    weight_decay=0.05,
)

train = get_config("common/train.py").train
train.max_iter = 60000
train.amp.enabled = False  # EVA trained its segmentation models in fp32
train.checkpointer.period = 1000
train.eval_period = 8000
train.init_checkpoint = ""  # eva_psz14to16.pt

lr_multiplier = L(MMCVWarmupParamScheduler)(
    scheduler=L(PolynomialDecayParamScheduler)(base_value=1.0, power=1.0),
    warmup_length=1500 / 60000,
    warmup_ratio=1e-6,
)
