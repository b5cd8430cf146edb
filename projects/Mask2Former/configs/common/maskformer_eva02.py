"""Base of the Mask2Former semantic segmentation configs: EVA-02 ViT + simple feature pyramid +
Mask2Former head, EVA's 896 recipe. As given here: EVA-02 B, 150 classes, no dataloader.

EVA-02 published no Mask2Former config, so the head and the recipe are EVA-01's
(``eva_mask2former_896_*_relpos_layerscale_9dec``, spec ``mask2former_semseg.md`` Sec. 3):

* model: the EVA-02 ViT of the detection configs at 896 (window 16, global blocks 2, 5, 8,
  11) with p2-p5 pyramid maps (strides 4-32, 256 channels, no p6); pixel decoder and
  transformer decoder 1024 wide with 32 heads and FFN 4096, 6 deformable encoder layers,
  200 queries, 9 decoder layers (10 supervised predictions); losses CE 2 (no-object 0.1),
  mask BCE 5, dice 5 on 12544 points (oversample 3, importance 0.75), matcher costs 2 / 5 / 5;
* optimizer: AdamW, betas (0.9, 0.999), weight decay 0.05 except biases and norms, layer-wise
  lr decay with EVA's rule (decoder queries and class / mask heads in layer 0), no gradient
  clipping, fp32;
* schedule: poly (power 1) with a linear warm-up of 1500 iterations from 1e-6.

Dataset configs set the data, the class count, lr, layer decay and the length of training.
The ``eva02_l_*`` configs change the backbone to EVA-02 L.
"""

from functools import partial

from fvcore.common.param_scheduler import PolynomialDecayParamScheduler

from det.config import LazyCall as L
from det.config import get_config
from det.layers import ShapeSpec
from det.modeling.mask2former import (
    HungarianMatcher,
    MaskFormerHead,
    MSDeformAttnPixelDecoder,
    MultiScaleMaskedTransformerDecoder,
    SetCriterion,
    SlidingWindowInference,
    get_mask2former_lr_decay_rate,
)
from det.modeling.meta_arch import MaskFormer
from det.solver import WarmupParamScheduler

# The EVA-02 ViT + simple feature pyramid of the detection configs, without the p6 level.
_backbone = get_config("common/models/mask_rcnn_vitdet.py").model.backbone
_backbone.top_block = None
_backbone.net.img_size = 896
# EVA-02's segmentation recipes (UperNet, ADE20K) use 0.15 for B and 0.2 for L.
_backbone.net.drop_path_rate = 0.15

model = L(MaskFormer)(
    backbone=_backbone,
    sem_seg_head=L(MaskFormerHead)(
        pixel_decoder=L(MSDeformAttnPixelDecoder)(
            input_shape={
                f"p{level}": L(ShapeSpec)(channels="${.....backbone.out_channels}", stride=2**level)
                for level in (2, 3, 4, 5)
            },
            transformer_in_features=["p3", "p4", "p5"],
            conv_dim=1024,
            mask_dim=1024,
            norm="GN",
            transformer_dropout=0.0,
            transformer_nheads=32,
            transformer_dim_feedforward=4096,
            transformer_enc_layers=6,
            transformer_n_points=4,
            common_stride=4,
        ),
        predictor=L(MultiScaleMaskedTransformerDecoder)(
            in_channels="${..pixel_decoder.conv_dim}",
            num_classes=150,
            hidden_dim=1024,
            num_queries=200,
            nheads=32,
            dim_feedforward=4096,
            dec_layers=9,
            mask_dim="${..pixel_decoder.mask_dim}",
            num_feature_levels=3,
        ),
    ),
    criterion=L(SetCriterion)(
        num_classes="${..sem_seg_head.predictor.num_classes}",
        matcher=L(HungarianMatcher)(
            cost_class=2.0, cost_mask=5.0, cost_dice=5.0, num_points="${..num_points}"
        ),
        weight_dict={"loss_ce": 2.0, "loss_mask": 5.0, "loss_dice": 5.0},
        eos_coef=0.1,
        losses=["labels", "masks"],
        num_points=12544,
        oversample_ratio=3.0,
        importance_sample_ratio=0.75,
    ),
    # The backbone asks for the 896 square (RoPE tables of the global blocks are for it).
    size_divisibility=-1,
    pixel_mean=[123.675, 116.28, 103.53],
    pixel_std=[58.395, 57.12, 57.375],
    # EVA tests with 896 x 896 windows at stride 512 (mmseg's "slide" mode).
    inference=L(SlidingWindowInference)(
        crop_size=("${model.backbone.net.img_size}", "${model.backbone.net.img_size}"),
        stride=(512, 512),
    ),
)

optimizer = get_config("common/optim.py").AdamW
optimizer.lr = 1e-5
optimizer.weight_decay = 0.05
# mmseg's rule: no weight decay for 1-D parameters and biases (norms, q_bias, v_bias).
optimizer.params.weight_decay_norm = 0.0
optimizer.params.weight_decay_bias = 0.0
optimizer.params.overrides = {"q_bias": {"weight_decay": 0.0}, "v_bias": {"weight_decay": 0.0}}
optimizer.params.lr_factor_func = partial(
    get_mask2former_lr_decay_rate, num_layers=12, lr_decay_rate=0.95
)

train = get_config("common/train.py").train
train.max_iter = 80000
train.amp.enabled = False  # EVA trained its segmentation models in fp32
train.checkpointer.period = 1000
train.eval_period = 1000
train.init_checkpoint = ""  # EVA-02 MIM weights: train.init_checkpoint=/path/eva02_*_p14to16.pt

# mmcv's warm-up multiplies the poly value by 1 - (1 - t / W)(1 - 1e-6); detectron2's linear
# warm-up from 1e-6 to the poly value at W differs from it by at most W / (4 T) of the base lr
# (0.005 here), during the warm-up only.
lr_multiplier = L(WarmupParamScheduler)(
    scheduler=L(PolynomialDecayParamScheduler)(base_value=1.0, power=1.0),
    warmup_length=1500 / 80000,
    warmup_factor=1e-6,
)
