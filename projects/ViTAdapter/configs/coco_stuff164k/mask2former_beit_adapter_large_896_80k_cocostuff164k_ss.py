"""ViT-Adapter-L (BEiT-L) + Mask2Former, COCO-Stuff-164K (171 classes), 896 crop, 80k, batch 16:
51.7 mIoU ss, 52.0 ms (571M). 200 queries, windows 896 / 512, activation checkpointing in the
ViT and the adapter, eval every 8000 iterations. Pretrained:
``train.init_checkpoint=/path/beit_large_patch16_224_pt22k_ft22k.pth``.
"""

from det.config import get_config

from ..common.mask2former_beit_adapter import lr_multiplier, model, optimizer, train

dataloader = get_config("common/data/coco_stuff_semseg.py").dataloader
dataloader.train.mapper.augmentations.crop_size = 896
dataloader.train.total_batch_size = 16

model.backbone.vit.img_size = 896
model.backbone.vit.use_act_checkpoint = True
model.backbone.with_cp = True
model.sem_seg_head.predictor.num_classes = 171
model.sem_seg_head.predictor.num_queries = 200
model.inference.crop_size = (896, 896)
model.inference.stride = (512, 512)
train.max_iter = 80000
train.eval_period = 8000
lr_multiplier.warmup_length = 1500 / 80000
