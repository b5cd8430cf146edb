"""ViT-Adapter-B (DeiT-B) + UperNet, ADE20K, 512 crop, 160k: 48.8 mIoU ss, 49.7 ms (134M params).

Pretrained: ``train.init_checkpoint=/path/deit_base_patch16_224-b5f2ef4d.pth``.
"""

from ..common.upernet_vit_adapter import dataloader, lr_multiplier, model, optimizer, train

model.backbone.vit.embed_dim = 768
model.backbone.vit.num_heads = 12
model.backbone.vit.drop_path_rate = 0.3
model.backbone.deform_num_heads = 12
model.backbone.deform_ratio = 0.5
model.decode_head.in_channels = [768, 768, 768, 768]
model.auxiliary_head.in_channels = 768
optimizer.lr = 6e-5
