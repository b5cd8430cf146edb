"""Base of the ViT-Adapter + UperNet configs (ViT-Adapter's ``upernet_*_adapter_*_512_160k_ade20k``
recipe). As given here: ViT-Adapter-T on DeiT-T, ADE20K, 512 crops, 160k iterations.

* backbone: a plain timm-layout ViT (no cls token in the blocks, the 224 position grid
  resized bicubically to the input on every forward) inside the adapter: spatial prior
  module 64 wide, 4 interactions over blocks [0-2], [3-5], [6-8], [9-11], deformable
  attention with 4 points, ConvFFN ratio 0.25 with the ViT's drop path, injector gamma 0,
  2 extra extractors, SyncBN; outputs res2-res5 (strides 4-32), all D channels;
* decode head: UperNet 512 wide (pool scales 1, 2, 3, 6, dropout 0.1, SyncBN), CE weight 1;
  auxiliary head: FCN (one 3x3 conv 256 wide) on res4, CE weight 0.4;
* test: 512 x 512 windows at stride 341 (mmseg's ``slide``) on images resized to short side
  512 (long side at most 2048), sides rounded up to a multiple of 32;
* optimizer: AdamW (0.9, 0.999), lr 12e-5, weight decay 0.01 except 1-D parameters and biases,
  mmseg's layer-wise lr decay 0.95 over 12 layers (adapter and heads at the top layer);
* schedule: mmcv poly (power 1, min lr 0) with mmcv's linear warm-up of 1500 iterations from
  1e-6; batch 16 (8 GPUs x 2); float16 AMP as ViT-Adapter's
  ``fp16 = dict(loss_scale=dict(init_scale=512))``: a dynamic loss scale starting at 512
  (``train.amp.grad_scaler``).

Model cards in ``../ade20k/`` change the width, depth, lr and the pretrained file. Pretrained
weights: ``train.init_checkpoint=/path/deit_tiny_patch16_224-a1311bcf.pth`` (the timm-layout
file is mapped onto ``backbone.vit`` and the load report printed).
"""

import torch
from fvcore.common.param_scheduler import PolynomialDecayParamScheduler

from det.config import LazyCall as L
from det.config import get_config
from det.modeling.backbone import TimmViT, ViTAdapter
from det.modeling.mask2former import SlidingWindowInference
from det.modeling.meta_arch import EncoderDecoder
from det.modeling.segmentation import FCNHead, UPerHead
from det.solver.layer_decay import get_layer_decay_optimizer_params
from det.solver.mmcv_warmup import MMCVWarmupParamScheduler

model = L(EncoderDecoder)(
    backbone=L(ViTAdapter)(
        vit=L(TimmViT)(
            patch_size=16,
            embed_dim=192,
            depth=12,
            num_heads=3,
            mlp_ratio=4.0,
            qkv_bias=True,
            drop_path_rate=0.1,
            pretrain_img_size=224,
            use_cls_token=False,
            interpolate_pos_embed=True,
            use_act_checkpoint=False,
        ),
        interaction_indexes=[[0, 2], [3, 5], [6, 8], [9, 11]],
        conv_inplane=64,
        n_points=4,
        deform_num_heads=6,
        deform_ratio=1.0,
        init_values=0.0,
        with_cffn=True,
        cffn_ratio=0.25,
        drop_path_rate="${.vit.drop_path_rate}",
        add_vit_feature=True,
        use_extra_extractor=True,
        with_cp=False,
        norm="SyncBN",
    ),
    decode_head=L(UPerHead)(
        in_features=["res2", "res3", "res4", "res5"],
        in_channels=[192, 192, 192, 192],
        channels=512,
        pool_scales=(1, 2, 3, 6),
        num_classes=150,
        dropout_ratio=0.1,
        norm="SyncBN",
        loss_weight=1.0,
    ),
    auxiliary_head=L(FCNHead)(
        in_features=["res4"],
        in_channels=192,
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
    # mmseg pads every training crop to the crop size (Pad(size=crop_size)).
    train_pad_size=512,
)

dataloader = get_config("common/data/ade20k_semseg.py").dataloader
dataloader.train.mapper.augmentations.crop_size = 512
dataloader.train.total_batch_size = 16

optimizer = L(torch.optim.AdamW)(
    params=L(get_layer_decay_optimizer_params)(
        base_lr="${..lr}",
        weight_decay="${..weight_decay}",
        layer_decay_rate=0.95,
        num_layers="${...model.backbone.vit.depth}",
        vit_prefix="backbone.vit.",
    ),
    lr=12e-5,
    betas=(0.9, 0.999),
    weight_decay=0.01,
)

train = get_config("common/train.py").train
train.max_iter = 160000
train.amp.enabled = True
train.amp.precision = "float16"
train.amp.grad_scaler = dict(init_scale=512.0)
train.checkpointer.period = 1000
train.eval_period = 16000
train.init_checkpoint = ""  # the ViT's timm-layout file, e.g. deit_tiny_patch16_224-a1311bcf.pth

lr_multiplier = L(MMCVWarmupParamScheduler)(
    scheduler=L(PolynomialDecayParamScheduler)(base_value=1.0, power=1.0),
    warmup_length=1500 / 160000,
    warmup_ratio=1e-6,
)
