"""EVA-02 B + Mask2Former, COCO-Stuff-164K (171 classes), 896 crops, 80k iterations, batch 32.

EVA-01's ``eva_mask2former_896_80k_cocostuff164k_ss_relpos_layerscale_9dec`` recipe: lr 1e-5,
layer decay 0.95, 1500 warm-up iterations, single-scale sliding-window test (896 / 512).
Initialize from EVA-02 MIM weights: ``train.init_checkpoint=/path/eva02_B_pt_in21k_p14to16.pt``.
"""

from det.config import get_config

from ..common.maskformer_eva02 import lr_multiplier, model, optimizer, train

dataloader = get_config("common/data/coco_stuff_semseg.py").dataloader
dataloader.train.total_batch_size = 32

model.sem_seg_head.predictor.num_classes = 171
