"""EVA-01 + ViT-Adapter + Mask2Former, ADE20K (150 classes) fine-tuned from the COCO-Stuff
53.4 model, 896 crop, 20k, batch 64: 61.5 mIoU ss (released 61.47). lr 2.5e-5, layer decay
0.95, 500 warm-up iterations, eval every 2000.

Start from the COCO-Stuff model (``coco_stuff164k/eva01_mask2former_896_60k_cocostuff164k_ss``,
or the released ``eva_sem_seg_mask2former_cocostuff_53p4.pth`` mapped to det names):
``train.init_checkpoint=/path/model_final.pth``. Its 172-row class head does not fit the 151
rows here: the checkpointer skips it (reported as a shape mismatch), as EVA did.
"""

from det.config import get_config

from ..common.mask2former_eva01_adapter import lr_multiplier, model, optimizer, train

dataloader = get_config("common/data/ade20k_semseg.py").dataloader
dataloader.train.mapper.augmentations.crop_size = 896
dataloader.train.total_batch_size = 64

model.sem_seg_head.predictor.num_classes = 150
optimizer.lr = 2.5e-5
train.max_iter = 20000
train.eval_period = 2000
train.checkpointer.period = 2000
lr_multiplier.warmup_length = 500 / 20000
