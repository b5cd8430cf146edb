"""ViT-Adapter-L (BEiT-L) + Mask2Former, PASCAL-Context (59 classes), 480 crop, 40k: 67.8 mIoU
ss, 68.2 ms (568M). Train resize (520, 520) x [0.5, 2]; test keep-ratio to short side 520 (long
side at most 4096), windows 480 at stride 320; eval every 4000 iterations.
Pretrained: ``train.init_checkpoint=/path/beit_large_patch16_224_pt22k_ft22k.pth``.
"""

from ..common.mask2former_beit_adapter import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.dataset.names = "pascal_context_59_sem_seg_train"
dataloader.test.dataset.names = "pascal_context_59_sem_seg_val"
dataloader.train.mapper.num_classes = 59
dataloader.train.mapper.augmentations.crop_size = 480
dataloader.train.mapper.augmentations.scale = (520, 520)
dataloader.test.mapper.augmentations.scale = (4096, 520)

model.backbone.vit.img_size = 480
model.sem_seg_head.predictor.num_classes = 59
model.inference.update(crop_size=(480, 480), stride=(320, 320))

train.max_iter = 40000
train.eval_period = 4000
lr_multiplier.warmup_length = 1500 / 40000

__all__ = ["dataloader", "lr_multiplier", "model", "optimizer", "train"]
