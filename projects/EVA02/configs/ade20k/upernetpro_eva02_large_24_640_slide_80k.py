"""EVA-02 L + UperNet "pro", ADE20K, 640 crop, 80k, batch 16: 60.1 mIoU ss (aAcc 86.83, mAcc
72.17). The L card at 640 with UperNet 1536 wide and 640 / 426 windows.
``train.init_checkpoint=/path/eva02_L_pt_m38m_p14to16.pt``.
"""

from .upernet_eva02_large_24_512_slide_80k import (
    dataloader,
    lr_multiplier,
    model,
    optimizer,
    train,
)

model.backbone.net.img_size = 640
model.decode_head.channels = 1536
model.inference.crop_size = (640, 640)
model.inference.stride = (426, 426)
dataloader.train.mapper.augmentations.crop_size = 640
