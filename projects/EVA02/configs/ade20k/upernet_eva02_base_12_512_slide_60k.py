"""EVA-02 B + UperNet, ADE20K, 512 crop, 60k, batch 32: 55.3 mIoU ss (aAcc 85.41, mAcc 66.81).

The base recipe as it stands (:mod:`..common.upernet_eva02`).
``train.init_checkpoint=/path/eva02_B_pt_in21k_p14to16.pt``.
"""

from ..common.upernet_eva02 import dataloader, lr_multiplier, model, optimizer, train

__all__ = ["dataloader", "lr_multiplier", "model", "optimizer", "train"]
