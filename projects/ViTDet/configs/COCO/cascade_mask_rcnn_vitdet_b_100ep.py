"""ViTDet's ``COCO/cascade_mask_rcnn_vitdet_b_100ep``: :mod:`mask_rcnn_vitdet_b_100ep` with
det's Cascade R-CNN heads (three stages, IoU 0.5 / 0.6 / 0.7, class-agnostic regression).

The EVA-02 model cards of ``eva2_mim_to_coco``, ``eva2_o365`` and ``eva2_o365_to_coco`` start
from this file (through a sibling of the same name in their folder).
"""

from det import model_zoo

from .mask_rcnn_vitdet_b_100ep import (
    dataloader,
    get_vit_lr_decay_rate,  # noqa: F401  (imported from here by the EVA-02 cards)
    lr_multiplier,
    optimizer,
    train,
)

model = model_zoo.get_config("common/models/cascade_mask_rcnn_vitdet.py").model
