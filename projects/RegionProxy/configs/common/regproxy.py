"""Base of the RegionProxy configs (YiF-Zhang/RegionProxy, mmseg 0.17). As given here:
RegProxy-Ti/16 ("sub4 + implicit-mid-4") on ADE20K, 512 crops, 160k iterations, poly lr.

* backbone: mmseg's ``VisionTransformer`` in timm's layout (``TimmViT``): patch 16, the cls
  token through every block, the position grid stored at the crop (512 / 16 = 32) and resized
  bicubically to other inputs, drop path 0.1, the final LayerNorm applied to the last block;
  outputs the tokens after block 4 (the "implicit mid" affinity input) and block 11;
* decode head: ``RegionProxyHead``, a linear classifier on the last tokens and a 3x3 depthwise
  + 1x1 pointwise (SyncBN + ReLU) affinity branch as wide as the ViT predicting 9 neighbour
  weights for each of 4 x 4 sub-pixels per token; cross-entropy weight 1; no auxiliary head;
* test: mmseg ``slide`` with 512 windows at stride 512 on images resized to short side 512 (long
  side at most 2048), no rounding of the sides (mmseg 0.17 has no test-time size divisor);
* optimizer: AdamW (0.9, 0.999), lr 6e-5, weight decay 0.01 through mmcv's ``custom_keys``
  (``pos_embed``, ``cls_token``, ``dist_token``, ``.ln`` / ``norm``: decay 0; every other tensor,
  biases and the head's BN included, decays); no layer decay, no AMP;
* schedule: mmcv poly (power 1, min lr 0), linear warm-up 1500 iterations from 1e-6; the
  ``adamw-cr`` cards use mmcv's cosine restarts instead; batch 16 (8 GPUs x 2).

Model cards in ``../ade20k/`` and ``../cityscapes/`` carry the upstream config names. Pretrained:
``train.init_checkpoint=/path/<file>``: AugReg ``vit_*_patch16_384`` / hybrid
``vit_*_r*_s32_384`` as timm or ``vit2mmseg`` files, DeiT ``deit_base_distilled_patch16_384``
for the B cards (mapped onto ``backbone`` with the load report printed).
"""

import torch
from fvcore.common.param_scheduler import PolynomialDecayParamScheduler

from det.config import LazyCall as L
from det.config import get_config
from det.modeling.backbone import TimmViT
from det.modeling.mask2former import SlidingWindowInference
from det.modeling.meta_arch import EncoderDecoder
from det.modeling.segmentation import RegionProxyHead
from det.solver.mmcv_param_groups import get_mmcv_custom_keys_params
from det.solver.mmcv_warmup import MMCVWarmupParamScheduler

model = L(EncoderDecoder)(
    backbone=L(TimmViT)(
        patch_size=16,
        embed_dim=192,
        depth=12,
        num_heads=3,
        mlp_ratio=4.0,
        qkv_bias=True,
        drop_path_rate=0.1,
        pretrain_img_size=512,
        use_cls_token=True,
        use_dist_token=False,
        interpolate_pos_embed=True,
        final_norm=True,
        out_indices=[4, 11],
        use_act_checkpoint=False,
    ),
    decode_head=L(RegionProxyHead)(
        mid_channels="${..backbone.embed_dim}",
        token_channels="${..backbone.embed_dim}",
        channels="${..backbone.embed_dim}",
        num_classes=150,
        in_features=["b4", "b11"],
        region_res=(4, 4),
        norm="SyncBN",
        loss_weight=1.0,
    ),
    auxiliary_head=None,
    pixel_mean=[123.675, 116.28, 103.53],
    pixel_std=[58.395, 57.12, 57.375],
    size_divisibility=-1,  # the patch size (32 for the hybrids)
    inference=L(SlidingWindowInference)(crop_size=(512, 512), stride=(512, 512)),
    # mmseg pads every training crop to the crop size (Pad(size=crop_size)).
    train_pad_size=512,
)

dataloader = get_config("common/data/ade20k_semseg.py").dataloader
dataloader.train.mapper.augmentations.crop_size = 512
dataloader.train.total_batch_size = 16
dataloader.test.mapper.augmentations.size_divisor = 1

optimizer = L(torch.optim.AdamW)(
    params=L(get_mmcv_custom_keys_params)(
        base_lr="${..lr}",
        weight_decay="${..weight_decay}",
        custom_keys={
            "pos_embed": {"decay_mult": 0.0},
            "cls_token": {"decay_mult": 0.0},
            ".ln": {"decay_mult": 0.0},
            "dist_token": {"decay_mult": 0.0},
            "norm": {"decay_mult": 0.0},
        },
    ),
    lr=6e-5,
    betas=(0.9, 0.999),
    weight_decay=0.01,
)

train = get_config("common/train.py").train
train.max_iter = 160000
train.amp.enabled = False
train.checkpointer.period = 4000
train.eval_period = 4000
train.init_checkpoint = ""  # e.g. vit_tiny_patch16_384 (AugReg), timm or vit2mmseg layout

lr_multiplier = L(MMCVWarmupParamScheduler)(
    scheduler=L(PolynomialDecayParamScheduler)(base_value=1.0, power=1.0),
    warmup_length=1500 / 160000,
    warmup_ratio=1e-6,
)
