"""EVA-02 L + UperNet, ADE20K, 512 crop, 80k, batch 16: 59.8 mIoU ss (aAcc 86.67, mAcc 72.05).

ViT-L (1024 wide, 24 blocks, 16 heads) with the neck on blocks 7, 11, 15, 23, drop path 0.2,
UperNet 1024 wide, lr 4e-5, layer decay 0.9 over 24 layers.
``train.init_checkpoint=/path/eva02_L_pt_m38m_p14to16.pt``.
"""

from ..common.upernet_eva02 import dataloader, lr_multiplier, model, optimizer, train

_net = model.backbone.net
_net.embed_dim = 1024
_net.depth = 24
_net.num_heads = 16
_net.drop_path_rate = 0.2
_net.out_indices = [7, 11, 15, 23]
_net.use_act_checkpoint = True
model.backbone.in_features = ["b7", "b11", "b15", "b23"]
model.decode_head.in_channels = [1024, 1024, 1024, 1024]
model.decode_head.channels = 1024
model.auxiliary_head.in_channels = 1024

dataloader.train.total_batch_size = 16
optimizer.lr = 4e-5
optimizer.params.layer_decay_rate = 0.9
train.max_iter = 80000
lr_multiplier.warmup_length = 1500 / 80000
