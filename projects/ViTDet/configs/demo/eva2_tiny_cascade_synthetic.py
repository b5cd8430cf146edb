"""Demo: a tiny EVA-02 Cascade Mask R-CNN trained and evaluated on CPU in a few minutes.

The synthetic COCO-format dataset ``synthetic_coco_{train,val}`` (three classes drawn as
shapes; 64 + 16 images of 256 x 320) is written under ``$DETECTRON2_DATASETS/synthetic``
(default ``./datasets/synthetic``) the first time it is read. Everything else is the EVA-02
COCO recipe shrunk: a 4-block ViT (width 96, RoPE, SwiGLU, window + global attention) at
192 x 192, narrow heads, fewer proposals and RoIs, no AMP, no layer-wise lr decay. Run::

    python tools/lazyconfig_train_net.py --config-file \\
        projects/ViTDet/configs/demo/eva2_tiny_cascade_synthetic.py

It ends with the ``copypaste:`` box and mask AP blocks of COCOEvaluator. Measured: box AP
85.4, mask AP 72.0 after 300 iterations of batch 4 (about 0.5 s of CPU time per iteration with
one thread, i.e. 2-3 minutes on an idle CPU core).
"""

from functools import partial

from det.modeling.backbone import get_vit_lr_decay_rate

from ..common.eva2_cascade_coco import dataloader, lr_multiplier, model, optimizer, train

_CHANNELS = 64  # pyramid and head width

model.backbone.net.update(
    img_size=192,
    embed_dim=96,
    depth=4,
    num_heads=4,
    drop_path_rate=0.0,
    window_size=4,
    window_block_indexes=[0, 2],
)
model.backbone.out_channels = _CHANNELS
model.proposal_generator.head.in_channels = _CHANNELS
model.proposal_generator.batch_size_per_image = 64
model.proposal_generator.pre_nms_topk = (400, 200)
model.proposal_generator.post_nms_topk = (64, 50)

model.roi_heads.num_classes = 3
model.roi_heads.batch_size_per_image = 32
model.roi_heads.box_pooler.sampling_ratio = 2
model.roi_heads.mask_pooler.sampling_ratio = 2
for _head in model.roi_heads.box_heads:
    _head.update(conv_dims=[_CHANNELS // 2], fc_dims=[128])
    _head.input_shape.channels = _CHANNELS
for _predictor in model.roi_heads.box_predictors:
    _predictor.input_shape.channels = 128
model.roi_heads.mask_head.update(conv_dims=[_CHANNELS, _CHANNELS, _CHANNELS])
model.roi_heads.mask_head.input_shape.channels = _CHANNELS

dataloader.train.dataset.names = "synthetic_coco_train"
dataloader.train.total_batch_size = 4
dataloader.train.num_workers = 1
dataloader.test.dataset.names = "synthetic_coco_val"
dataloader.test.num_workers = 0

# A randomly initialized ViT learns better without layer-wise lr decay.
optimizer.params.lr_factor_func = partial(get_vit_lr_decay_rate, num_layers=4, lr_decay_rate=1.0)
optimizer.lr = 4e-4

train.device = "cpu"
train.amp.enabled = False
train.ddp.fp16_compression = False
train.output_dir = "./output/eva2_tiny_cascade_synthetic"
train.max_iter = 300
train.eval_period = 300
train.checkpointer.period = 300
train.log_period = 20
train.seed = 0

lr_multiplier.scheduler.milestones = [240, 280]
lr_multiplier.warmup_length = 15 / 300
