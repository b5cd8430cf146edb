"""CAE ViT-B (300-epoch pre-training) + UperNet, ADE20K, 512 crop, 160k, lr 3e-4: 48.1 mIoU.

CAE's ``upernet_cae_base_12_512_slide_160k_ade20k_pt_3e-4`` (see :mod:`..common.upernet_cae`
for the recipe and its provenance). ``train.init_checkpoint=/path/<CAE-B 300ep checkpoint>.pth``.
"""

from ..common.upernet_cae import dataloader, lr_multiplier, model, optimizer, train

optimizer.lr = 3e-4
