""":mod:`objects365` trained on train + val, as the EVA-02 Objects365 models are (the fork's
``common/data/objects365_trainval.py``)."""

from .objects365 import dataloader

dataloader.train.dataset.names = ["objects365_train", "objects365_val"]
