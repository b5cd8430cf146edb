"""CAE ViT-L (1600-epoch pre-training) + UperNet, ADE20K, 512 crop, 160k: 54.9 mIoU.

CAE's ``upernet_cae_large_24_512_slide_160k_ade20k_pt_decay095_4e-5_dp015``: ViT-L (1024 wide,
24 blocks, 16 heads) with the neck on blocks 7, 11, 15, 23, drop path 0.15, UperNet 1024 wide,
lr 4e-5, layer decay 0.95 over 24 layers (see :mod:`..common.upernet_cae` for the provenance).
``train.init_checkpoint=/path/<CAE-L 1600ep checkpoint>.pth``.
"""

from ..common.upernet_cae import dataloader, lr_multiplier, model, optimizer, train

_net = model.backbone.net
_net.embed_dim = 1024
_net.depth = 24
_net.num_heads = 16
_net.drop_path_rate = 0.15
_net.out_indices = [7, 11, 15, 23]
model.backbone.in_features = ["b7", "b11", "b15", "b23"]
model.decode_head.in_channels = [1024, 1024, 1024, 1024]
model.decode_head.channels = 1024
model.auxiliary_head.in_channels = 1024

optimizer.lr = 4e-5
optimizer.params.layer_decay_rate = 0.95
