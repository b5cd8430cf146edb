"""Cityscapes (19 trainId classes, ``gtFine``) semantic segmentation loaders, mmseg's recipe.

Train: ratio-range resize (0.5-2.0 of (2048, 1024)) -> crop x crop random crop (768 here) with
cat_max_ratio 0.75 -> flip -> photometric distortion. Test: keep-ratio resize to (2048, 1024),
i.e. the native resolution, evaluated on ``cityscapes_fine_sem_seg_val``. The labels are the
``*_gtFine_labelTrainIds.png`` files (``det.data.datasets.prepare_cityscapes_train_ids`` writes
them from the official ``labelIds``).
"""

from .ade20k_semseg import dataloader

dataloader.train.dataset.names = "cityscapes_fine_sem_seg_train"
dataloader.train.mapper.num_classes = 19
dataloader.train.mapper.augmentations.crop_size = 768
dataloader.train.mapper.augmentations.scale = (2048, 1024)
dataloader.test.dataset.names = "cityscapes_fine_sem_seg_val"
dataloader.test.mapper.augmentations.scale = (2048, 1024)
dataloader.test.mapper.augmentations.size_divisor = 1
