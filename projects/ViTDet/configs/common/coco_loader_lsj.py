"""COCO with large-scale jitter at 1024, under the name ViTDet's configs import
(``from ..common.coco_loader_lsj import dataloader``): det's ``common/data/coco_lsj.py``.

The augmentations are one node, ``L(build_lsj_augmentation)(image_size=...)``, not detectron2's
list of three transforms: set the size with ``dataloader.train.mapper.augmentations.image_size``.
"""

from det import model_zoo

dataloader = model_zoo.get_config("common/data/coco_lsj.py").dataloader
