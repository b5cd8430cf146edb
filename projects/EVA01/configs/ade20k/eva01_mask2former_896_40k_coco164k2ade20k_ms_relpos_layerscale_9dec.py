"""Multi-scale + flip evaluation of the ss relpos / layer-scale / 9-decoder ADE20K card:
62.31 mIoU (``eva01_mask2former_896_40k_coco164k2ade20k_ss_relpos_layerscale_9dec``).

EVA's ms test: 7 scales (short side 512 ... 1280, long side <= 4x) x {as is, flipped}, each
padded with black to at least 896 x 896 and segmented with 896 / 512 sliding windows; the
softmax probabilities are averaged. Each scale is resized from the original image, so the test
loader does not resize. Evaluate with ``--eval-only train.init_checkpoint=/path/model.pth``.
"""

from det.config import LazyCall as L
from det.modeling.mask2former import MultiScaleFlipInference

from .eva01_mask2former_896_40k_coco164k2ade20k_ss_relpos_layerscale_9dec import (
    dataloader,
    lr_multiplier,
    model,
    optimizer,
    train,
)

model.inference = L(MultiScaleFlipInference)(
    base=model.inference,
    scale=(3584, 896),
    ratios=[side / 896 for side in (512, 640, 768, 896, 1024, 1152, 1280)],
    flip=True,
    size_divisor=32,
    pad_short_side=896,
)
dataloader.test.mapper.augmentations = []
