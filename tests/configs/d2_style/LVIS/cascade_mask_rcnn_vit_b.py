"""An LVIS config on the COCO sibling: repeat-factor sampling, sigmoid CE + federated loss,
LVISEvaluator."""

from det.config import LazyCall as L
from det.data.detection_utils import get_fed_loss_cls_weights
from det.data.samplers import RepeatFactorTrainingSampler
from det.evaluation.lvis_evaluation import LVISEvaluator

from ..COCO.cascade_mask_rcnn_vit_b import (  # noqa: F401
    dataloader,
    lr_multiplier,
    model,
    optimizer,
    train,
)

dataloader.train.dataset.names = "lvis_v1_train"
dataloader.train.sampler = L(RepeatFactorTrainingSampler)(
    repeat_factors=L(RepeatFactorTrainingSampler.repeat_factors_from_category_frequency)(
        dataset_dicts="${dataloader.train.dataset}", repeat_thresh=0.001
    )
)
dataloader.test.dataset.names = "lvis_v1_val"
dataloader.evaluator = L(LVISEvaluator)(
    dataset_name="${..test.dataset.names}", max_dets_per_image=300
)

model.roi_heads.num_classes = 1203
for _predictor in model.roi_heads.box_predictors:
    _predictor.update(
        test_score_thresh=0.02,
        test_topk_per_image=300,
        use_sigmoid_ce=True,
        use_fed_loss=True,
        get_fed_loss_cls_weights=L(get_fed_loss_cls_weights)(
            _partial_=True, dataset_names="${dataloader.train.dataset.names}", freq_weight_power=0.5
        ),
    )
optimizer.lr = 2e-4
