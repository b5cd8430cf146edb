"""COCO with large-scale jitter at 1024, from det's base loaders."""

from det import model_zoo

dataloader = model_zoo.get_config("common/data/coco_lsj.py").dataloader
dataloader.train.mapper.augmentations.image_size = 1024
dataloader.train.total_batch_size = 64
