"""ViT-Adapter-B (BEiT-B) + Mask2Former, the base of the ``mask2former_beit_adapter_base_*`` cards.

The L recipe of :mod:`.mask2former_beit_adapter` on BEiT-B (768 wide, 12 blocks, 12 heads, drop
path 0.2; 12 deformable heads, interactions over blocks [0-2], [3-5], [6-8], [9-11]) with
Mask2Former's own 256-wide head: 8 heads, feed-forward 1024 in the 6 deformable encoder layers
and 2048 in the 9 decoder layers, 100 queries. AdamW lr 3e-5, layer decay 0.95 over 12 layers.
As given here: COCO-Stuff-10K, 512 crops, 40k iterations (50.0 mIoU ss, 50.5 ms, 120M).

Pretrained: ``train.init_checkpoint=/path/beit_base_patch16_224_pt22k_ft22k.pth``.
"""

from .mask2former_beit_adapter import dataloader, lr_multiplier, model, optimizer, train

CROP = 512

model.backbone.vit.update(img_size=CROP, embed_dim=768, depth=12, num_heads=12, drop_path_rate=0.2)
model.backbone.interaction_indexes = [[0, 2], [3, 5], [6, 8], [9, 11]]
model.backbone.deform_num_heads = 12
model.sem_seg_head.pixel_decoder.update(
    conv_dim=256, mask_dim=256, transformer_nheads=8, transformer_dim_feedforward=1024
)
model.sem_seg_head.predictor.update(
    hidden_dim=256, nheads=8, dim_feedforward=2048, num_classes=171, num_queries=100
)
model.inference.update(crop_size=(CROP, CROP), stride=(341, 341))

dataloader.train.dataset.names = "coco_stuff_10k_sem_seg_train"
dataloader.test.dataset.names = "coco_stuff_10k_sem_seg_test"
dataloader.train.mapper.num_classes = 171
dataloader.train.mapper.augmentations.crop_size = CROP

optimizer.lr = 3e-5
optimizer.params.layer_decay_rate = 0.95

train.max_iter = 40000
train.eval_period = 4000
train.init_checkpoint = ""  # beit_base_patch16_224_pt22k_ft22k.pth
lr_multiplier.warmup_length = 1500 / 40000

__all__ = ["dataloader", "lr_multiplier", "model", "optimizer", "train"]
