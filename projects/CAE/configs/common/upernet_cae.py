"""Base of the CAE + UperNet configs (CAE's ``upernet_cae_*_512_slide_160k_ade20k_*``). As given
here: CAE ViT-B, ADE20K, 512 crops, 160k iterations, lr 4e-4.

* backbone: the CAE encoder as a BEiT-style ViT-B (q / v biases, layer scale 0.1, a relative
  position bias per block learned from scratch, the pre-trained absolute position embedding
  resized to the 32 x 32 grid, drop path 0.1) with BEiT's four-scale neck on blocks 3, 5, 7, 11
  (strides 4-32, 768 channels);
* decode head: UperNet 768 wide (pool scales 1, 2, 3, 6, dropout 0.1, SyncBN); auxiliary FCN
  (256 wide) on res4, CE weight 0.4;
* test: 512 x 512 windows at stride 341;
* optimizer: AdamW (0.9, 0.999), weight decay 0.05 except 1-D parameters and biases, mmseg's
  layer decay 0.65 over 12 layers (neck and heads at the top layer); batch 16; float16 AMP (CAE
  trains with apex mixed precision);
* schedule: mmcv poly (power 1) with mmcv's linear warm-up of 1500 iterations from 1e-6.

Provenance: the learning rates, the L layer decay (0.95) and drop path (0.15) are in CAE's
config names (``../shared/seeds/cae_seg_README.md``); CAE's segmentation config files are not in
the reference index, so the backbone flags above follow BEiT's UperNet recipe that CAE's code
builds on and the CAE UperNet port in PaddleSeg (drop path 0.1, layer scale 0.1, rel pos bias,
blocks 3/5/7/11, UperNet 768); the base layer decay 0.65 is BEiT's value for B. Check them
against CAE's files before reporting a reproduction.

Pretrained: ``train.init_checkpoint=/path/<CAE pre-training checkpoint>.pth`` (its ``encoder.*``
is mapped onto ``backbone.net``; the regressor, decoder and alignment encoder are dropped).
"""

import torch
from fvcore.common.param_scheduler import PolynomialDecayParamScheduler

from det.config import LazyCall as L
from det.config import get_config
from det.modeling.backbone import BEiT, FourScaleNeck
from det.modeling.mask2former import SlidingWindowInference
from det.modeling.meta_arch import EncoderDecoder
from det.modeling.segmentation import FCNHead, UPerHead
from det.solver.layer_decay import get_layer_decay_optimizer_params
from det.solver.mmcv_warmup import MMCVWarmupParamScheduler

model = L(EncoderDecoder)(
    backbone=L(FourScaleNeck)(
        net=L(BEiT)(
            img_size=512,
            patch_size=16,
            embed_dim=768,
            depth=12,
            num_heads=12,
            mlp_ratio=4.0,
            qkv_bias=True,
            drop_path_rate=0.1,
            init_values=0.1,
            use_abs_pos_emb=True,
            use_rel_pos_bias=True,
            out_indices=[3, 5, 7, 11],
        ),
        in_features=["b3", "b5", "b7", "b11"],
        norm="SyncBN",
    ),
    decode_head=L(UPerHead)(
        in_features=["res2", "res3", "res4", "res5"],
        in_channels=[768, 768, 768, 768],
        channels=768,
        pool_scales=(1, 2, 3, 6),
        num_classes=150,
        dropout_ratio=0.1,
        norm="SyncBN",
        loss_weight=1.0,
    ),
    auxiliary_head=L(FCNHead)(
        in_features=["res4"],
        in_channels=768,
        channels=256,
        num_convs=1,
        concat_input=False,
        num_classes="${..decode_head.num_classes}",
        dropout_ratio=0.1,
        norm="SyncBN",
        loss_weight=0.4,
    ),
    pixel_mean=[123.675, 116.28, 103.53],
    pixel_std=[58.395, 57.12, 57.375],
    size_divisibility=32,
    inference=L(SlidingWindowInference)(crop_size=(512, 512), stride=(341, 341)),
)

dataloader = get_config("common/data/ade20k_semseg.py").dataloader
dataloader.train.mapper.augmentations.crop_size = 512
dataloader.train.total_batch_size = 16

optimizer = L(torch.optim.AdamW)(
    params=L(get_layer_decay_optimizer_params)(
        base_lr="${..lr}",
        weight_decay="${..weight_decay}",
        layer_decay_rate=0.65,
        num_layers="${...model.backbone.net.depth}",
        vit_prefix="backbone.net.",
    ),
    lr=4e-4,
    betas=(0.9, 0.999),
    weight_decay=0.05,
)

train = get_config("common/train.py").train
train.max_iter = 160000
train.amp.enabled = True
train.amp.precision = "float16"
train.checkpointer.period = 1000
train.eval_period = 16000
train.init_checkpoint = ""  # a CAE pre-training checkpoint

lr_multiplier = L(MMCVWarmupParamScheduler)(
    scheduler=L(PolynomialDecayParamScheduler)(base_value=1.0, power=1.0),
    warmup_length=1500 / 160000,
    warmup_ratio=1e-6,
)
