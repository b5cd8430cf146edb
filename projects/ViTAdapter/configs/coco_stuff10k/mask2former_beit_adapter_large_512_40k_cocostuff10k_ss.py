"""ViT-Adapter-L (BEiT-L) + Mask2Former, COCO-Stuff-10K (171 classes), 512 crop, 40k: 53.2 mIoU
ss, 54.2 ms (568M). Train resize (2048, 512) x [0.5, 2], windows 512 at stride 341, eval every
4000 iterations; activation checkpointing in the ViT and the adapter as published (memory only).
Pretrained: ``train.init_checkpoint=/path/beit_large_patch16_224_pt22k_ft22k.pth``.
"""

from ..common.mask2former_beit_adapter import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.dataset.names = "coco_stuff_10k_sem_seg_train"
dataloader.test.dataset.names = "coco_stuff_10k_sem_seg_test"
dataloader.train.mapper.num_classes = 171
dataloader.train.mapper.augmentations.crop_size = 512

model.backbone.vit.update(img_size=512, use_act_checkpoint=True)
model.backbone.with_cp = True
model.sem_seg_head.predictor.num_classes = 171
model.inference.update(crop_size=(512, 512), stride=(341, 341))

train.max_iter = 40000
train.eval_period = 4000
lr_multiplier.warmup_length = 1500 / 40000

__all__ = ["dataloader", "lr_multiplier", "model", "optimizer", "train"]
