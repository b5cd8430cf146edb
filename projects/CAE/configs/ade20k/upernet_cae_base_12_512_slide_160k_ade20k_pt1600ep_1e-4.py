"""CAE ViT-B (1600-epoch pre-training) + UperNet, ADE20K, 512 crop, 160k, lr 1e-4: 50.3 mIoU.

CAE's ``upernet_cae_base_12_512_slide_160k_ade20k_pt_1e-4`` (see :mod:`..common.upernet_cae`
for the recipe and its provenance). ``train.init_checkpoint=/path/<CAE-B 1600ep checkpoint>.pth``.
"""

from ..common.upernet_cae import dataloader, lr_multiplier, model, optimizer, train

optimizer.lr = 1e-4
