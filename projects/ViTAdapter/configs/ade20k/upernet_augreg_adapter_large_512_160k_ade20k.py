"""ViT-Adapter-L (AugReg-L, 384) + UperNet, ADE20K, 512 crop, 160k: 53.4 mIoU ss, 54.4 ms (364M).

24 blocks in 4 interactions of 6, activation checkpointing in the adapter and the ViT, inputs
normalized with mean = std = 127.5, AdamW lr 2e-5 with weight decay 0.05 and layer decay 0.95
over 24 layers, float32 (the published config has no ``fp16``).
Pretrained: ``train.init_checkpoint=/path/L_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.1-
sd_0.1--imagenet2012-steps_20k-lr_0.01-res_384.pth``.
"""

from ..common.upernet_vit_adapter import dataloader, lr_multiplier, model, optimizer, train

model.backbone.vit.embed_dim = 1024
model.backbone.vit.depth = 24
model.backbone.vit.num_heads = 16
model.backbone.vit.drop_path_rate = 0.4
model.backbone.vit.pretrain_img_size = 384
model.backbone.vit.use_act_checkpoint = True
model.backbone.with_cp = True
model.backbone.interaction_indexes = [[0, 5], [6, 11], [12, 17], [18, 23]]
model.backbone.deform_num_heads = 16
model.backbone.deform_ratio = 0.5
model.decode_head.in_channels = [1024, 1024, 1024, 1024]
model.auxiliary_head.in_channels = 1024
model.pixel_mean = [127.5, 127.5, 127.5]
model.pixel_std = [127.5, 127.5, 127.5]

optimizer.lr = 2e-5
optimizer.weight_decay = 0.05
train.amp.enabled = False
