"""LVIS v1 loaders: COCO LSJ augmentation + repeat-factor sampling (threshold 0.001).

Evaluated with LVISEvaluator keeping 300 detections per image (override with
``dataloader.evaluator.max_dets_per_image=1000``).
"""

from det.config import LazyCall as L
from det.data.samplers import RepeatFactorTrainingSampler, repeat_factors_from_category_frequency
from det.evaluation import LVISEvaluator

from .coco_lsj import dataloader

dataloader.train.dataset.names = "lvis_v1_train"
dataloader.train.sampler = L(RepeatFactorTrainingSampler)(
    repeat_factors=L(repeat_factors_from_category_frequency)(
        dataset_dicts="${...dataset}", repeat_thresh=0.001
    )
)
dataloader.test.dataset.names = "lvis_v1_val"
dataloader.evaluator = L(LVISEvaluator)(
    dataset_name="${..test.dataset.names}", max_dets_per_image=300
)
