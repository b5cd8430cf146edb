"""EVA-02 L, COCO, 1024, 4 global blocks (5, 11, 17, 23), layer decay 0.8, lr 6e-5, batch 144."""

from ..common.eva2_cascade_coco_l import dataloader, lr_multiplier, model, optimizer, train

optimizer.lr = 6e-5
dataloader.train.total_batch_size = 144
