"""Objects365 v2 loaders with the multi-scale recipe of :mod:`coco` (the EVA-02 fork's
``common/data/objects365.py``): train on ``objects365_train``, boxes only, evaluated with
COCOEvaluator on ``objects365_val``. The LSJ recipe of the model cards is
:mod:`objects365_lsj`."""

from .coco import dataloader

dataloader.train.dataset.names = "objects365_train"
dataloader.train.mapper.use_instance_mask = False  # Objects365 has no masks
dataloader.test.dataset.names = "objects365_val"
