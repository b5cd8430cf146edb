"""ViT-Adapter-L (BEiT-L) + UperNet, COCO-Stuff-164K (171 classes), 640 crop, 80k: 50.5 mIoU
ss, 50.7 ms (451M). Train resize (2560, 640) x [0.5, 2], eval every 8000 iterations.
Pretrained: ``train.init_checkpoint=/path/beit_large_patch16_224_pt22k_ft22k.pth``.
"""

from det.config import get_config

from ..common.upernet_beit_adapter import lr_multiplier, model, optimizer, train

dataloader = get_config("common/data/coco_stuff_semseg.py").dataloader
dataloader.train.mapper.augmentations.crop_size = 640
dataloader.train.total_batch_size = 16

model.decode_head.num_classes = 171
lr_multiplier.warmup_length = 1500 / 80000
train.max_iter = 80000
train.eval_period = 8000
