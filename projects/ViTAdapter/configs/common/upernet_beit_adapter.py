"""Base of the ViT-Adapter-L (BEiT-L) + UperNet configs (``upernet_beit_adapter_large_*``). As
given here: ADE20K, 640 crops, 160k iterations (58.0 mIoU ss, 58.4 ms, 451M parameters).

Differences from :mod:`.upernet_vit_adapter` (the DeiT / AugReg recipe):

* backbone: a BEiT-L (1024 wide, 24 blocks, 16 heads) with a relative position bias per block
  built for the crop grid (the pre-trained 27 x 27 tables are resized on load), layer scale
  1e-6, no absolute position embedding, drop path 0.3; the cls token runs through the blocks;
  the injector's gamma starts at the layer-scale value 1e-6; 16 deformable heads with value
  ratio 0.5; activation checkpointing in the ViT and the adapter;
* UperNet 1024 wide on the four 1024-channel levels;
* test: windows of the crop size at stride 426;
* optimizer: AdamW lr 2e-5, weight decay 0.05, layer decay 0.9 over 24 layers; float32 (the
  published configs have no ``fp16``).

Pretrained: ``train.init_checkpoint=/path/beit_large_patch16_224_pt22k_ft22k.pth``.
"""

from det.config import LazyCall as L
from det.modeling.backbone import BEiT

from .upernet_vit_adapter import dataloader, lr_multiplier, model, optimizer, train

CROP = 640

model.backbone.vit = L(BEiT)(
    img_size=CROP,
    patch_size=16,
    embed_dim=1024,
    depth=24,
    num_heads=16,
    mlp_ratio=4.0,
    qkv_bias=True,
    drop_path_rate=0.3,
    init_values=1e-6,
    use_abs_pos_emb=False,
    use_rel_pos_bias=True,
    use_act_checkpoint=True,
)
model.backbone.interaction_indexes = [[0, 5], [6, 11], [12, 17], [18, 23]]
model.backbone.deform_num_heads = 16
model.backbone.deform_ratio = 0.5
model.backbone.init_values = "${.vit.init_values}"
model.backbone.with_cp = True
# BEiT's relative position tables fix the grid: batches are padded to img_size already.
model.train_pad_size = None
model.decode_head.in_channels = [1024, 1024, 1024, 1024]
model.decode_head.channels = 1024
model.auxiliary_head.in_channels = 1024
model.inference.crop_size = (CROP, CROP)
model.inference.stride = (426, 426)

dataloader.train.mapper.augmentations.crop_size = CROP

optimizer.lr = 2e-5
optimizer.weight_decay = 0.05
optimizer.params.layer_decay_rate = 0.9
train.amp.enabled = False
train.init_checkpoint = ""  # beit_large_patch16_224_pt22k_ft22k.pth
