"""COCO loaders with large-scale jitter (ViTDet / EVA-02), image size as one parameter.

Train: RandomFlip -> ResizeScale(0.1, 2.0, S, S) -> FixedSizeCrop((S, S), pad=False), RGB,
boxes recomputed from the cropped masks. Test: long side S. Change the size in one place, e.g.
``dataloader.train.mapper.augmentations.image_size=1536`` (the test resize follows).
"""

from det.config import LazyCall as L
from det.data.augmentation_recipes import build_lsj_augmentation, build_lsj_test_augmentation

from .coco import dataloader

dataloader.train.mapper.augmentations = L(build_lsj_augmentation)(image_size=1024)
dataloader.train.mapper.image_format = "RGB"
dataloader.train.mapper.recompute_boxes = True
dataloader.train.total_batch_size = 64

dataloader.test.mapper.augmentations = L(build_lsj_test_augmentation)(
    image_size="${....train.mapper.augmentations.image_size}"
)
