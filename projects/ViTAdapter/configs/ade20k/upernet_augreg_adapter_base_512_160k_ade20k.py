"""ViT-Adapter-B (AugReg-B, 384) + UperNet, ADE20K, 512 crop, 160k: 51.9 mIoU ss, 52.5 ms (134M).

Differs from the DeiT cards: the 384 position grid, inputs normalized with mean = std = 127.5,
and no layer decay: AdamW lr 2e-5, weight decay 0.01 with mmcv's ``custom_keys`` (no decay for
``level_embed`` / ``pos_embed`` / ``norm`` / ``bias``, 10x lr for ``head``; first match wins).
Pretrained: ``train.init_checkpoint=/path/B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-
sd_0.0--imagenet2012-steps_20k-lr_0.01-res_384.pth``.
"""

from det.config import LazyCall as L
from det.solver.mmcv_param_groups import get_mmcv_custom_keys_params

from ..common.upernet_vit_adapter import dataloader, lr_multiplier, model, optimizer, train

model.backbone.vit.embed_dim = 768
model.backbone.vit.num_heads = 12
model.backbone.vit.drop_path_rate = 0.3
model.backbone.vit.pretrain_img_size = 384
model.backbone.deform_num_heads = 12
model.backbone.deform_ratio = 0.5
model.decode_head.in_channels = [768, 768, 768, 768]
model.auxiliary_head.in_channels = 768
model.pixel_mean = [127.5, 127.5, 127.5]
model.pixel_std = [127.5, 127.5, 127.5]

optimizer.lr = 2e-5
optimizer.params = L(get_mmcv_custom_keys_params)(
    base_lr="${..lr}",
    weight_decay="${..weight_decay}",
    custom_keys={
        "level_embed": {"decay_mult": 0.0},
        "pos_embed": {"decay_mult": 0.0},
        "norm": {"decay_mult": 0.0},
        "bias": {"decay_mult": 0.0},
        "head": {"lr_mult": 10.0},
    },
)
