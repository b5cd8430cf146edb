"""Multi-scale + flip evaluation of ``eva02_l_mask2former_896_40k_coco164k2ade20k_ss``: the test
of ``eva02_b_mask2former_896_40k_coco164k2ade20k_ms`` (see there) on the EVA-02 L model."""

from .eva02_b_mask2former_896_40k_coco164k2ade20k_ms import dataloader as _ms_dataloader
from .eva02_b_mask2former_896_40k_coco164k2ade20k_ms import model as _ms_model
from .eva02_l_mask2former_896_40k_coco164k2ade20k_ss import (
    dataloader,
    lr_multiplier,
    model,
    optimizer,
    train,
)

model.inference = _ms_model.inference
dataloader.test.mapper.augmentations = _ms_dataloader.test.mapper.augmentations
