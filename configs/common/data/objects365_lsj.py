"""Objects365 v2 loaders: LSJ at 1536, trained on train + val, boxes only.

No instance masks (the O365 models have no mask head), so boxes are transformed, clipped and
filtered instead of recomputed from masks. Evaluated with COCOEvaluator on objects365_val.
"""

from .coco_lsj import dataloader

dataloader.train.dataset.names = ["objects365_train", "objects365_val"]
dataloader.train.mapper.augmentations.image_size = 1536  # EVA-02's O365 runs are all 1536
dataloader.train.mapper.use_instance_mask = False
dataloader.train.mapper.recompute_boxes = False
dataloader.test.dataset.names = "objects365_val"
