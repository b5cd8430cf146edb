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
from det.layers import ShapeSpec
from det.modeling.backbone import BEiT, ViTAdapter
from det.modeling.mask2former import (
    HungarianMatcher,
    MaskFormerHead,
    MSDeformAttnPixelDecoder,
    MultiScaleMaskedTransformerDecoder,
    SetCriterion,
    SlidingWindowInference,
)
from det.modeling.meta_arch import MaskFormer
from det.solver.layer_decay import get_layer_decay_optimizer_params
from det.solver.mmcv_warmup import MMCVWarmupParamScheduler

CROP = 896
WIDTH = 1408

model = L(MaskFormer)(
    backbone=L(ViTAdapter)(
        vit=L(BEiT)(
            img_size=CROP,
            patch_size=16,
            embed_dim=WIDTH,
            depth=40,
            num_heads=16,
            mlp_ratio=6144 / WIDTH,
            qkv_bias=True,
            drop_path_rate=0.5,
            init_values=None,
            use_abs_pos_emb=True,
            use_rel_pos_bias=False,
            interpolate_pos_embed=False,
            cls_pos_embed=False,
            use_act_checkpoint=True,
        ),
        interaction_indexes=[[0, 9], [10, 19], [20, 29], [30, 39]],
        conv_inplane=64,
        n_points=4,
        deform_num_heads=16,
        deform_ratio=0.5,
        init_values=0.0,
        with_cffn=True,
        cffn_ratio=0.25,
        drop_path_rate="${.vit.drop_path_rate}",
        add_vit_feature=True,
        use_extra_extractor=True,
        with_cp=True,
        norm="SyncBN",
    ),
    sem_seg_head=L(MaskFormerHead)(
        pixel_decoder=L(MSDeformAttnPixelDecoder)(
            input_shape={
                f"res{level}": L(ShapeSpec)(channels=WIDTH, stride=2**level)
                for level in (2, 3, 4, 5)
            },
            transformer_in_features=["res3", "res4", "res5"],
            conv_dim=1024,
            mask_dim=1024,
            norm="GN",
            transformer_dropout=0.0,
            transformer_nheads=32,
            transformer_dim_feedforward=4096,
            transformer_enc_layers=6,
            transformer_n_points=4,
            common_stride=4,
        ),
        predictor=L(MultiScaleMaskedTransformerDecoder)(
            in_channels="${..pixel_decoder.conv_dim}",
            num_classes=171,
            hidden_dim=1024,
            num_queries=200,
            nheads=32,
            dim_feedforward=4096,
            dec_layers=8,
            mask_dim="${..pixel_decoder.mask_dim}",
            num_feature_levels=3,
        ),
    ),
    criterion=L(SetCriterion)(
        num_classes="${..sem_seg_head.predictor.num_classes}",
        matcher=L(HungarianMatcher)(
            cost_class=2.0, cost_mask=5.0, cost_dice=5.0, num_points="${..num_points}"
        ),
        weight_dict={"loss_ce": 2.0, "loss_mask": 5.0, "loss_dice": 5.0},
        eos_coef=0.1,
        losses=["labels", "masks"],
        num_points=12544,
        oversample_ratio=3.0,
        importance_sample_ratio=0.75,
    ),
    # The backbone asks for the 896 square (its position embedding is not interpolated).
    size_divisibility=-1,
    pixel_mean=[123.675, 116.28, 103.53],
    pixel_std=[58.395, 57.12, 57.375],
    inference=L(SlidingWindowInference)(crop_size=(CROP, CROP), stride=(512, 512)),
)

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
