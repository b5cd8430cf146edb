"""ViT-Adapter-L (BEiT-L) + UperNet, COCO-Stuff-10K (171 classes), 512 crop, 80k: 51.0 mIoU ss,
51.4 ms (451M). Train resize (2048, 512) x [0.5, 2], windows 512 at stride 341, eval every 8000
iterations. Pretrained: ``train.init_checkpoint=/path/beit_large_patch16_224_pt22k_ft22k.pth``.
"""

from ..common.upernet_beit_adapter import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.dataset.names = "coco_stuff_10k_sem_seg_train"
dataloader.test.dataset.names = "coco_stuff_10k_sem_seg_test"
dataloader.train.mapper.num_classes = 171
dataloader.train.mapper.augmentations.crop_size = 512

model.backbone.vit.img_size = 512
model.decode_head.num_classes = 171
model.inference.crop_size = (512, 512)
model.inference.stride = (341, 341)
lr_multiplier.warmup_length = 1500 / 80000
train.max_iter = 80000
train.eval_period = 8000
