"""COCO LSJ at 1024 x 1024, the name the EVA-02 1024 model cards import."""

from .coco_loader_lsj import dataloader

dataloader.train.mapper.augmentations.image_size = 1024  # the test resize follows
