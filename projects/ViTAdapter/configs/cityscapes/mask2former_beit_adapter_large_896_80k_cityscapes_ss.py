"""ViT-Adapter-L (BEiT-L) + Mask2Former, Cityscapes (19 classes), 896 crop, 80k, fine-tuned from
ViT-Adapter's Mapillary Vistas model: 84.9 mIoU ss, 85.8 ms (571M).

Train resize (2048, 1024) x [0.5, 2], 896 crops, batch 8 (8 GPUs x 1); test on the full
2048 x 1024 frames with 896 windows at stride 512; eval every 1000 iterations; activation
checkpointing as published (memory only). Start from the Mapillary release (mmseg checkpoint,
mapped on load; its 66-class head is skipped and the Cityscapes head starts fresh, as mmcv's
``load_from`` does)::

    train.init_checkpoint=/path/mask2former_beit_adapter_large_896_80k_mapillary.pth.tar

Mapillary training itself is not part of det.
"""

from det.config import get_config

from ..common.mask2former_beit_adapter import lr_multiplier, model, optimizer, train

dataloader = get_config("common/data/cityscapes_semseg.py").dataloader
dataloader.train.mapper.augmentations.crop_size = 896
dataloader.train.total_batch_size = 8
dataloader.test.mapper.augmentations.size_divisor = 32

model.backbone.vit.update(img_size=896, use_act_checkpoint=True)
model.backbone.with_cp = True
model.sem_seg_head.predictor.num_classes = 19
model.inference.update(crop_size=(896, 896), stride=(512, 512))

train.max_iter = 80000
train.eval_period = 1000
train.init_checkpoint = ""  # mask2former_beit_adapter_large_896_80k_mapillary.pth.tar
lr_multiplier.warmup_length = 1500 / 80000

__all__ = ["dataloader", "lr_multiplier", "model", "optimizer", "train"]
