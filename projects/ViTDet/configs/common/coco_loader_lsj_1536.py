"""COCO LSJ at 1536 x 1536, the name the EVA-02 1536 model cards import."""

from .coco_loader_lsj import dataloader

dataloader.train.mapper.augmentations.image_size = 1536  # the test resize follows
