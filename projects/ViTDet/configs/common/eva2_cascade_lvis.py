"""Base of the EVA-02 LVIS v1 model cards: :mod:`eva2_cascade_coco` on LVIS.

1203 classes; every box predictor uses sigmoid cross-entropy with the federated loss (class
weights ``image_count ** 0.5`` of the training set), score threshold 0.02 and up to 300
detections; repeat-factor sampling (0.001); LVISEvaluator keeping 300 detections per image.
As given here it is the card ``eva2_lvis_cascade_mask_rcnn_vitdet_b_4attn_1024_lrd0p7``
(lr 1e-4, 50k iterations with steps at 40k and 45k, evaluation / checkpoints every 2500).
"""

from det.config import LazyCall as L
from det.config import get_config
from det.data.detection_utils import get_fed_loss_cls_weights

from .eva2_cascade_coco import lr_multiplier, model, optimizer, train

dataloader = get_config("common/data/lvis_lsj.py").dataloader
dataloader.train.mapper.augmentations.image_size = "${model.backbone.net.img_size}"
dataloader.train.total_batch_size = 128

model.roi_heads.num_classes = 1203
for _predictor in model.roi_heads.box_predictors:
    _predictor.update(
        test_score_thresh=0.02,
        test_topk_per_image=300,
        use_sigmoid_ce=True,
        use_fed_loss=True,
        get_fed_loss_cls_weights=L(get_fed_loss_cls_weights)(
            _partial_=True,
            dataset_names="${dataloader.train.dataset.names}",
            freq_weight_power=0.5,
        ),
    )

optimizer.lr = 1e-4
train.max_iter = 50000
train.eval_period = 2500
train.checkpointer.period = 2500
lr_multiplier.scheduler.milestones = [40000, 45000]
lr_multiplier.warmup_length = 1000 / 50000
