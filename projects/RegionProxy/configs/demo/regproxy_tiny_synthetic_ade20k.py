"""Demo: a tiny RegionProxy (ViT + region-proxy head) on a synthetic ADE20K-layout dataset,
trained and evaluated on CPU in about a minute::

    python tools/lazyconfig_train_net.py \\
        --config-file projects/RegionProxy/configs/demo/regproxy_tiny_synthetic_ade20k.py

RegProxy-Ti/16's recipe at 1/4 of the resolution (128 crops, 128 windows at stride 96) on a
4-block ViT 64 wide, the affinity branch on block 1 ("implicit mid"), BatchNorm on one
process, no photometric distortion (classes differ by color here). The data (6 ADE20K
classes, shapes whose color and form depend on the class) is written on first use under
``$DETECTRON2_DATASETS/synthetic``.
"""

import det.data.transforms as T
from det.config import LazyCall as L

from ..common.regproxy import dataloader, lr_multiplier, model, optimizer, train

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

model.backbone.update(embed_dim=64, depth=4, num_heads=2, pretrain_img_size=128)
model.backbone.drop_path_rate = 0.0
model.backbone.out_indices = [1, 3]
model.decode_head.in_features = ["b1", "b3"]
model.decode_head.norm = "BN"
model.inference.update(crop_size=(128, 128), stride=(96, 96))
model.train_pad_size = 128

optimizer.lr = 1e-3

train.max_iter = 200
train.eval_period = 200
train.checkpointer.period = 200
train.log_period = 20
train.device = "cpu"
train.seed = 0
train.output_dir = "./output/regproxy_demo"
lr_multiplier.warmup_length = 20 / 200
