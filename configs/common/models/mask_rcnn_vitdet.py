"""Mask R-CNN on the EVA-02 ViT with a simple feature pyramid (ViTDet's recipe, EVA-02's ViT).

EVA-02 B at 1024: window attention (16 x 16) everywhere except the global blocks 2, 5, 8, 11;
SwiGLU MLP (ratio 4 * 2 / 3), 2-D RoPE. Two-conv RPN, 4conv1fc box head and mask head with LN.
``model.backbone.square_pad`` follows ``model.backbone.net.img_size``.
"""

from functools import partial

from torch import nn

from det.config import LazyCall as L
from det.layers import ShapeSpec
from det.modeling import (
    RPN,
    Box2BoxTransform,
    DefaultAnchorGenerator,
    FastRCNNConvFCHead,
    FastRCNNOutputLayers,
    GeneralizedRCNN,
    MaskRCNNConvUpsampleHead,
    Matcher,
    ROIPooler,
    SimpleFeaturePyramid,
    StandardROIHeads,
    StandardRPNHead,
    ViT,
)
from det.modeling.backbone import LastLevelMaxPool

# Both RoI branches pool p2-p5 alike; the mask branch at 14 x 14 (set after the model).
_ROI_FEATURES = ["p2", "p3", "p4", "p5"]
_ROI_POOLER = L(ROIPooler)(
    output_size=7,
    scales=(1.0 / 4, 1.0 / 8, 1.0 / 16, 1.0 / 32),
    sampling_ratio=0,
    pooler_type="ROIAlignV2",
)

model = L(GeneralizedRCNN)(
    backbone=L(SimpleFeaturePyramid)(
        net=L(ViT)(
            img_size=1024,
            patch_size=16,
            embed_dim=768,
            depth=12,
            num_heads=12,
            drop_path_rate=0.1,
            window_size=16,
            mlp_ratio=4 * 2 / 3,
            qkv_bias=True,
            norm_layer=partial(nn.LayerNorm, eps=1e-6),
            window_block_indexes=[0, 1, 3, 4, 6, 7, 9, 10],
            residual_block_indexes=[],
            use_act_checkpoint=False,
            out_feature="last_feat",
        ),
        in_feature="${.net.out_feature}",
        out_channels=256,
        scale_factors=(4.0, 2.0, 1.0, 0.5),
        top_block=L(LastLevelMaxPool)(),
        norm="LN",
        # Global attention with RoPE needs every input padded to exactly img_size.
        square_pad="${.net.img_size}",
    ),
    proposal_generator=L(RPN)(
        in_features=["p2", "p3", "p4", "p5", "p6"],
        head=L(StandardRPNHead)(in_channels=256, num_anchors=3, conv_dims=[-1, -1]),
        anchor_generator=L(DefaultAnchorGenerator)(
            sizes=[[32], [64], [128], [256], [512]],
            aspect_ratios=[0.5, 1.0, 2.0],
            strides=[4, 8, 16, 32, 64],
            offset=0.0,
        ),
        anchor_matcher=L(Matcher)(
            thresholds=[0.3, 0.7], labels=[0, -1, 1], allow_low_quality_matches=True
        ),
        box2box_transform=L(Box2BoxTransform)(weights=[1.0, 1.0, 1.0, 1.0]),
        batch_size_per_image=256,
        positive_fraction=0.5,
        pre_nms_topk=(2000, 1000),
        post_nms_topk=(1000, 1000),
        nms_thresh=0.7,
    ),
    roi_heads=L(StandardROIHeads)(
        num_classes=80,
        batch_size_per_image=512,
        positive_fraction=0.25,
        proposal_matcher=L(Matcher)(
            thresholds=[0.5], labels=[0, 1], allow_low_quality_matches=False
        ),
        box_in_features=_ROI_FEATURES,
        box_pooler=_ROI_POOLER,
        box_head=L(FastRCNNConvFCHead)(
            input_shape=L(ShapeSpec)(channels=256, height=7, width=7),
            conv_dims=[256, 256, 256, 256],
            fc_dims=[1024],
            conv_norm="LN",
        ),
        box_predictor=L(FastRCNNOutputLayers)(
            input_shape=L(ShapeSpec)(channels=1024),
            test_score_thresh=0.05,
            box2box_transform=L(Box2BoxTransform)(weights=(10, 10, 5, 5)),
            num_classes="${..num_classes}",
        ),
        mask_in_features=_ROI_FEATURES,
        mask_pooler=_ROI_POOLER,
        mask_head=L(MaskRCNNConvUpsampleHead)(
            input_shape=L(ShapeSpec)(channels=256, width=14, height=14),
            num_classes="${..num_classes}",
            conv_dims=[256, 256, 256, 256, 256],
            conv_norm="LN",
        ),
    ),
    # ImageNet mean / std in RGB 0-255, the EVA-02 pretraining normalization.
    pixel_mean=[123.675, 116.28, 103.53],
    pixel_std=[58.395, 57.12, 57.375],
    input_format="RGB",
)
model.roi_heads.mask_pooler.output_size = 14  # 28 x 28 masks after the 2x deconv
