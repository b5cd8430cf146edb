"""COCO-Stuff-164K (171 classes) semantic segmentation loaders: the ADE20K recipe on COCO-Stuff.

Labels are the contiguous 0..170 ids (mmseg's ``*_labelTrainIds.png``), 255 ignored.
"""

from .ade20k_semseg import dataloader

dataloader.train.dataset.names = "coco_2017_train_stuff_sem_seg"
dataloader.train.mapper.num_classes = 171
dataloader.test.dataset.names = "coco_2017_val_stuff_sem_seg"
