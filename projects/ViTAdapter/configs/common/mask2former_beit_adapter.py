"""Base of the ViT-Adapter-L (BEiT-L) + Mask2Former configs (``mask2former_beit_adapter_large_*``).
As given here: ADE20K, 640 crops, 160k iterations (58.3 mIoU ss, 59.0 ms, 568M parameters).

* backbone: BEiT-L in the adapter as in :mod:`.upernet_beit_adapter` (per-block relative position
  bias for the crop grid, layer scale 1e-6 also starting the injector's gamma, drop path 0.3,
  16 deformable heads, value ratio 0.5); outputs res2-res5 of 1024 channels;
* head: the mmdet-style Mask2Former of ViT-Adapter (``common/models/mask2former_vit_adapter``)
  with 100 queries and 9 decoder layers; CE 2 (no-object 0.1), mask BCE 5, dice 5 on 12544
  points;
* test: windows of the crop at stride 426;
* optimizer: AdamW lr 2e-5, weight decay 0.05 except 1-D parameters and biases, layer decay 0.9
  over 24 layers with the queries and class / mask heads at layer 0; batch 16; float32;
* schedule: mmcv poly (power 1), mmcv linear warm-up 1500 iterations from 1e-6.

Pretrained: ``train.init_checkpoint=/path/beit_large_patch16_224_pt22k_ft22k.pth``.
"""

import torch
from fvcore.common.param_scheduler import PolynomialDecayParamScheduler

from det.config import LazyCall as L
from det.config import get_config
from det.modeling.backbone import BEiT
from det.solver.layer_decay import get_layer_decay_optimizer_params
from det.solver.mmcv_warmup import MMCVWarmupParamScheduler

CROP = 640

model = get_config("common/models/mask2former_vit_adapter.py").model
model.backbone.vit = L(BEiT)(
    img_size=CROP,
    patch_size=16,
    embed_dim=1024,
    depth=24,
    num_heads=16,
    mlp_ratio=4.0,
    qkv_bias=True,
    drop_path_rate=0.3,
    init_values=1e-6,
    use_abs_pos_emb=False,
    use_rel_pos_bias=True,
    use_act_checkpoint=False,
)
model.backbone.interaction_indexes = [[0, 5], [6, 11], [12, 17], [18, 23]]
model.backbone.init_values = "${.vit.init_values}"
model.backbone.with_cp = False
model.sem_seg_head.predictor.num_classes = 150
model.sem_seg_head.predictor.num_queries = 100
model.sem_seg_head.predictor.dec_layers = 9
model.inference.crop_size = (CROP, CROP)
model.inference.stride = (426, 426)

dataloader = get_config("common/data/ade20k_semseg.py").dataloader
dataloader.train.mapper.augmentations.crop_size = CROP
dataloader.train.total_batch_size = 16

optimizer = L(torch.optim.AdamW)(
    params=L(get_layer_decay_optimizer_params)(
        base_lr="${..lr}",
        weight_decay="${..weight_decay}",
        layer_decay_rate=0.9,
        num_layers="${...model.backbone.vit.depth}",
        vit_prefix="backbone.vit.",
        layer0_prefixes=[
            f"sem_seg_head.predictor.{name}"
            for name in ("query_feat", "query_embed", "level_embed", "class_embed", "mask_embed")
        ],
    ),
    lr=2e-5,
    betas=(0.9, 0.999),
    weight_decay=0.05,
)

train = get_config("common/train.py").train
train.max_iter = 160000
train.amp.enabled = False
train.checkpointer.period = 1000
train.eval_period = 16000
train.init_checkpoint = ""  # beit_large_patch16_224_pt22k_ft22k.pth

lr_multiplier = L(MMCVWarmupParamScheduler)(
    scheduler=L(PolynomialDecayParamScheduler)(base_value=1.0, power=1.0),
    warmup_length=1500 / 160000,
    warmup_ratio=1e-6,
)
