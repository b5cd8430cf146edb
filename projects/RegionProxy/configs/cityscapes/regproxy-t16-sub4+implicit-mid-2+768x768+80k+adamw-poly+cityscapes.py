"""RegProxy-Ti/16 (sub4 + implicit-mid-2), Cityscapes, 768x768, 80k, poly: 76.5 mIoU ss, 77.7
ms+flip (6M params).

Slide 768 windows at stride 512 on the full 2048 x 1024 frames. Pretrained:
``train.init_checkpoint=/path/vit_tiny_patch16_384`` (AugReg).
"""

from det.config import get_config

from ..common.regproxy import lr_multiplier, model, optimizer, train

dataloader = get_config("common/data/cityscapes_semseg.py").dataloader
model.decode_head.num_classes = 19
model.backbone.pretrain_img_size = 768
model.backbone.out_indices = [2, 11]
model.decode_head.in_features = ["b2", "b11"]
model.inference.update(crop_size=(768, 768), stride=(512, 512))
model.train_pad_size = 768
lr_multiplier.warmup_length = 1500 / 80000
train.max_iter = 80000
train.checkpointer.period = 2000
train.eval_period = 2000

__all__ = ["dataloader", "lr_multiplier", "model", "optimizer", "train"]
