"""EVA-02 L + Mask2Former, ADE20K, fine-tuned from the EVA-02 L COCO-Stuff-164K model: the B
config with the EVA-02 L backbone of ``eva02_l_mask2former_896_80k_cocostuff164k_ss``."""

from functools import partial

from det.modeling.mask2former import get_mask2former_lr_decay_rate

from ..coco_stuff164k.eva02_l_mask2former_896_80k_cocostuff164k_ss import model as _large
from .eva02_b_mask2former_896_40k_coco164k2ade20k_ss import (
    dataloader,
    lr_multiplier,
    model,
    optimizer,
    train,
)

model.backbone = _large.backbone
optimizer.params.lr_factor_func = partial(
    get_mask2former_lr_decay_rate, num_layers=24, lr_decay_rate=0.9
)
