"""The sibling imported by the four EVA-02 COCO cards of this folder (in the fork) as
``from .cascade_mask_rcnn_vitdet_b_100ep import model, train, optimizer, ...``: det's
``COCO/cascade_mask_rcnn_vitdet_b_100ep``, re-exported so such files load unchanged here.
det's own cards in this folder do not use it."""

from ..COCO.cascade_mask_rcnn_vitdet_b_100ep import (  # noqa: F401
    dataloader,
    get_vit_lr_decay_rate,
    lr_multiplier,
    model,
    optimizer,
    train,
)
