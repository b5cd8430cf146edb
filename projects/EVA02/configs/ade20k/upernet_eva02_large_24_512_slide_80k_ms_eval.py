"""Multi-scale + flip evaluation of ``upernet_eva02_large_24_512_slide_80k``: 60.4 mIoU (aAcc
86.98, mAcc 72.54). Ratios 0.5, 0.75, 1.0, 1.25, 1.5, 1.75 of the (2048, 512) test scale, each
as is and flipped, 512 / 341 windows, softmax probabilities averaged. Evaluate with
``--eval-only train.init_checkpoint=/path/model.pth``.
"""

from det.config import LazyCall as L
from det.modeling.mask2former import MultiScaleFlipInference

from .upernet_eva02_large_24_512_slide_80k import (
    dataloader,
    lr_multiplier,
    model,
    optimizer,
    train,
)

model.inference = L(MultiScaleFlipInference)(
    base=model.inference,
    scale=(2048, 512),
    ratios=[0.5, 0.75, 1.0, 1.25, 1.5, 1.75],
    flip=True,
    size_divisor=32,
)
dataloader.test.mapper.augmentations = []
