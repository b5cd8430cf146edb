"""EVA-02 L + Mask2Former, ADE20K, fine-tuned from the EVA-02 L COCO-Stuff-164K model: the B
config with the EVA-02 L backbone (as in ``eva02_l_mask2former_896_80k_cocostuff164k_ss``)."""

from functools import partial

from det.modeling.mask2former import get_mask2former_lr_decay_rate

from .eva02_b_mask2former_896_40k_coco164k2ade20k_ss import (
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
    get_mask2former_lr_decay_rate, num_layers=24, lr_decay_rate=0.9
)
