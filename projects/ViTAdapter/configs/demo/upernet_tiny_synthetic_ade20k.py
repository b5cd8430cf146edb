"""Demo: a tiny ViT-Adapter + UperNet on a synthetic ADE20K-layout dataset, trained and evaluated
on CPU in about two minutes::

    python tools/lazyconfig_train_net.py \\
        --config-file projects/ViTAdapter/configs/demo/upernet_tiny_synthetic_ade20k.py

ViT-Adapter's recipe at 1/4 of the resolution (128 crops, sliding windows 128 / 96) with every
width and depth cut: a 4-block ViT 64 wide, one block per interaction, UperNet 64 wide, the
FCN auxiliary head 32 wide, BatchNorm on one process. The photometric distortion is left out:
classes differ by color here. The data (6 ADE20K classes, shapes whose color and form depend
on the class) is written on first use under ``$DETECTRON2_DATASETS/synthetic``.
"""

import det.data.transforms as T
from det.config import LazyCall as L

from ..common.upernet_vit_adapter import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.dataset.names = "synthetic_ade20k_sem_seg_train"
dataloader.test.dataset.names = "synthetic_ade20k_sem_seg_val"
dataloader.train.mapper.augmentations = [
    L(T.ResizeRatioRange)(scale=(512, 128), ratio_range=(0.5, 2.0)),
    L(T.RandomCrop_CategoryAreaConstraint)(
        crop_type="absolute",
        crop_size=(128, 128),
        single_category_max_area=0.75,
        ignored_category=255,
    ),
    L(T.RandomFlip)(horizontal=True),
]
dataloader.test.mapper.augmentations.crop_size = 128
dataloader.train.total_batch_size = 4
dataloader.train.num_workers = 0
dataloader.test.num_workers = 0

_vit = model.backbone.vit
_vit.embed_dim = 64
_vit.depth = 4
_vit.num_heads = 2
_vit.drop_path_rate = 0.0
_vit.pretrain_img_size = 128
model.backbone.interaction_indexes = [[0, 0], [1, 1], [2, 2], [3, 3]]
model.backbone.conv_inplane = 16
model.backbone.deform_num_heads = 4
model.backbone.norm = "BN"
model.decode_head.in_channels = [64, 64, 64, 64]
model.decode_head.channels = 64
model.decode_head.norm = "BN"
model.auxiliary_head.in_channels = 64
model.auxiliary_head.channels = 32
model.auxiliary_head.norm = "BN"
model.inference.crop_size = (128, 128)
model.train_pad_size = 128
model.inference.stride = (96, 96)

optimizer.lr = 1e-3
optimizer.params.layer_decay_rate = 1.0  # no pretrained ViT to protect

train.max_iter = 150
train.eval_period = 150
train.checkpointer.period = 150
train.log_period = 20
train.amp.enabled = False
train.device = "cpu"
train.seed = 0
train.output_dir = "./output/vit_adapter_upernet_demo"
lr_multiplier.warmup_length = 20 / 150
