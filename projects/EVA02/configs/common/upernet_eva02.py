"""Base of the EVA-02 + UperNet configs (``EVA-02/seg``, spec ``mask2former_semseg.md`` Sec. 3.3).
As given here: ``upernet_eva02_base_12_512_slide_60k`` (ADE20K, 512 crops, 60k, 55.3 mIoU ss).

* backbone: the EVA-02 ViT-B of the detection configs (SwiGLU with sub-LN, 2-D RoPE from the
  16 x 16 pre-training grid interpolated to the crop grid, absolute positions, no rel pos, no
  layer scale), global attention in every block, drop path 0.15, outputs after blocks 3, 5, 7,
  11 through BEiT's four-scale neck (strides 4-32, 768 channels);
* decode head: UperNet 768 wide (pool scales 1, 2, 3, 6, dropout 0.1, SyncBN); auxiliary FCN
  (256 wide) on res4, CE weight 0.4;
* test: 512 x 512 windows at stride 341;
* optimizer: AdamW (0.9, 0.999), lr 6e-5, weight decay 0.05 except 1-D parameters and biases,
  mmseg's layer decay 0.85 over 12 layers; batch 32; float16 AMP (EVA-02 used apex AMP);
* schedule: mmcv poly (power 1) with mmcv's linear warm-up of 1500 iterations from 1e-6.

Pretrained: ``train.init_checkpoint=/path/eva02_B_pt_in21k_p14to16.pt`` (mapped onto
``backbone.net`` with the EVA-02 MIM loader).
"""

import torch
from fvcore.common.param_scheduler import PolynomialDecayParamScheduler

from det.config import LazyCall as L
from det.config import get_config
from det.modeling.backbone import FourScaleNeck, ViT
from det.modeling.mask2former import SlidingWindowInference
from det.modeling.meta_arch import EncoderDecoder
from det.modeling.segmentation import FCNHead, UPerHead
from det.solver.layer_decay import get_layer_decay_optimizer_params
from det.solver.mmcv_warmup import MMCVWarmupParamScheduler

model = L(EncoderDecoder)(
    backbone=L(FourScaleNeck)(
        net=L(ViT)(
            img_size=512,
            patch_size=16,
            embed_dim=768,
            depth=12,
            num_heads=12,
            mlp_ratio=4 * 2 / 3,
            qkv_bias=True,
            drop_path_rate=0.15,
            use_abs_pos=True,
            pt_hw_seq_len=16,
            intp_freq=True,
            window_size=0,
            window_block_indexes=[],
            pretrain_img_size=224,
            pretrain_use_cls_token=True,
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
dataloader.train.total_batch_size = 32

optimizer = L(torch.optim.AdamW)(
    params=L(get_layer_decay_optimizer_params)(
        base_lr="${..lr}",
        weight_decay="${..weight_decay}",
        layer_decay_rate=0.85,
        num_layers="${...model.backbone.net.depth}",
        vit_prefix="backbone.net.",
    ),
    lr=6e-5,
    betas=(0.9, 0.999),
    weight_decay=0.05,
)

train = get_config("common/train.py").train
train.max_iter = 60000
train.amp.enabled = True
train.amp.precision = "float16"
train.checkpointer.period = 1000
train.eval_period = 8000
train.init_checkpoint = ""  # eva02_B_pt_in21k_p14to16.pt

lr_multiplier = L(MMCVWarmupParamScheduler)(
    scheduler=L(PolynomialDecayParamScheduler)(base_value=1.0, power=1.0),
    warmup_length=1500 / 60000,
    warmup_ratio=1e-6,
)
