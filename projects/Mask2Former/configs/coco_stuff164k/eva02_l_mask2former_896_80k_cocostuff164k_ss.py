"""EVA-02 L + Mask2Former, COCO-Stuff-164K: the B config with the EVA-02 L backbone.

ViT-L (1024 wide, 24 blocks, 16 heads, global attention in blocks 5, 11, 17, 23), drop path
0.2, activation checkpointing, layer decay over 24 blocks. Initialize from EVA-02 MIM weights:
``train.init_checkpoint=/path/eva02_L_pt_m38m_p14to16.pt``.
"""

from functools import partial

from det.modeling.mask2former import get_mask2former_lr_decay_rate

from .eva02_b_mask2former_896_80k_cocostuff164k_ss import (
    dataloader,
    lr_multiplier,
    model,
    optimizer,
    train,
)

_net = model.backbone.net
_net.embed_dim = 1024
_net.depth = 24
_net.num_heads = 16
_net.window_block_indexes = [i for i in range(24) if i not in (5, 11, 17, 23)]
_net.drop_path_rate = 0.2
_net.use_act_checkpoint = True
optimizer.params.lr_factor_func = partial(
    get_mask2former_lr_decay_rate, num_layers=24, lr_decay_rate=0.95
)
