"""EVA-02 B + Mask2Former, ADE20K (150 classes), fine-tuned from the COCO-Stuff-164K model.

EVA-01's ``eva_mask2former_896_40k_coco164k2ade20k_ss_relpos_layerscale_9dec`` recipe: 40k
iterations, batch 32, lr 1e-5, layer decay 0.9, 1500 warm-up iterations, single-scale
sliding-window test (896 / 512). Start from the COCO-Stuff model trained with
``coco_stuff164k/eva02_b_mask2former_896_80k_cocostuff164k_ss.py``::

    train.init_checkpoint=output/<coco-stuff run>/model_final.pth

Its class head (172 rows, for 171 classes + no-object) does not fit the 151 rows here, so the
checkpointer skips ``class_embed`` (reported as a shape mismatch) and it keeps its fresh
initialization, as EVA did; every other weight is loaded.
"""

from functools import partial

from det.config import get_config
from det.modeling.mask2former import get_mask2former_lr_decay_rate

from ..common.maskformer_eva02 import lr_multiplier, model, optimizer, train

dataloader = get_config("common/data/ade20k_semseg.py").dataloader
dataloader.train.total_batch_size = 32

model.sem_seg_head.predictor.num_classes = 150
optimizer.params.lr_factor_func = partial(
    get_mask2former_lr_decay_rate, num_layers=12, lr_decay_rate=0.9
)
train.max_iter = 40000
lr_multiplier.warmup_length = 1500 / 40000
