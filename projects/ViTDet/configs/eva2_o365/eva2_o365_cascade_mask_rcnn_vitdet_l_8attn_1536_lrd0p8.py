"""EVA-02 L, Objects365 v2 (train + val), 1536, 16 x 16 windows with 8 global blocks (every
third): box-only Cascade R-CNN with 365 classes, batch 160, 400k iterations."""

from det.config import get_config

from ..common.eva2_cascade_coco_l_8attn_1536 import lr_multiplier, model, optimizer, train

dataloader = get_config("common/data/objects365_lsj.py").dataloader
dataloader.train.mapper.augmentations.image_size = "${model.backbone.net.img_size}"
dataloader.train.total_batch_size = 160

model.roi_heads.update(num_classes=365, mask_in_features=None, mask_pooler=None, mask_head=None)
optimizer.lr = 6e-5

train.max_iter = 400000
train.eval_period = 10000
train.checkpointer.period = 2500
lr_multiplier.scheduler.milestones = [320000, 360000]
lr_multiplier.warmup_length = 5000 / 400000
