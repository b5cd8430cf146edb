"""ViT-Adapter-L (BEiT-L) + UperNet, PASCAL-Context (59 classes, background ignored), 480 crop,
80k: 67.0 mIoU ss, 67.5 ms (451M). Train resize (520, 520) x [0.5, 2]; test keep-ratio to short
side 520 (long side at most 4096), windows 480 at stride 320; eval every 8000 iterations.
Pretrained: ``train.init_checkpoint=/path/beit_large_patch16_224_pt22k_ft22k.pth``.
"""

from ..common.upernet_beit_adapter import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.dataset.names = "pascal_context_59_sem_seg_train"
dataloader.test.dataset.names = "pascal_context_59_sem_seg_val"
dataloader.train.mapper.num_classes = 59
dataloader.train.mapper.augmentations.crop_size = 480
dataloader.train.mapper.augmentations.scale = (520, 520)
dataloader.test.mapper.augmentations.scale = (4096, 520)

model.backbone.vit.img_size = 480
model.decode_head.num_classes = 59
model.inference.crop_size = (480, 480)
model.inference.stride = (320, 320)
lr_multiplier.warmup_length = 1500 / 80000
train.max_iter = 80000
train.eval_period = 8000
