"""Mask2Former on a ViT-Adapter (ViT-Adapter's and EVA-01's ``EncoderDecoderMask2Former``), as
EVA-01 builds it at 896: an EVA-01 ViT-g in the adapter, the mmdet-style Mask2Former head 1024
wide with 32 heads, 6 deformable encoder layers, 200 queries, 8 decoder layers, sliding-window
test 896 / 512. ``projects/EVA01`` and ``projects/ViTAdapter`` (BEiT-L) cards change the ViT,
the queries, the decoder depth and the windows; the pixel decoder's input width follows the
ViT's ``embed_dim``.
"""

from det.config import LazyCall as L
from det.layers import ShapeSpec
from det.modeling.backbone import BEiT, ViTAdapter
from det.modeling.mask2former import (
    HungarianMatcher,
    MaskFormerHead,
    MSDeformAttnPixelDecoder,
    MultiScaleMaskedTransformerDecoder,
    SetCriterion,
    SlidingWindowInference,
)
from det.modeling.meta_arch import MaskFormer

CROP = 896
WIDTH = 1408

model = L(MaskFormer)(
    backbone=L(ViTAdapter)(
        vit=L(BEiT)(
            img_size=CROP,
            patch_size=16,
            embed_dim=WIDTH,
            depth=40,
            num_heads=16,
            mlp_ratio=6144 / WIDTH,
            qkv_bias=True,
            drop_path_rate=0.5,
            init_values=None,
            use_abs_pos_emb=True,
            use_rel_pos_bias=False,
            interpolate_pos_embed=False,
            cls_pos_embed=False,
            use_act_checkpoint=True,
        ),
        interaction_indexes=[[0, 9], [10, 19], [20, 29], [30, 39]],
        conv_inplane=64,
        n_points=4,
        deform_num_heads=16,
        deform_ratio=0.5,
        init_values=0.0,
        with_cffn=True,
        cffn_ratio=0.25,
        drop_path_rate="${.vit.drop_path_rate}",
        add_vit_feature=True,
        use_extra_extractor=True,
        with_cp=True,
        norm="SyncBN",
    ),
    sem_seg_head=L(MaskFormerHead)(
        pixel_decoder=L(MSDeformAttnPixelDecoder)(
            input_shape={
                f"res{level}": L(ShapeSpec)(
                    channels="${.....backbone.vit.embed_dim}", stride=2**level
                )
                for level in (2, 3, 4, 5)
            },
            transformer_in_features=["res3", "res4", "res5"],
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
            num_classes=171,
            hidden_dim=1024,
            num_queries=200,
            nheads=32,
            dim_feedforward=4096,
            dec_layers=8,
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
    # The backbone asks for the 896 square (its position embedding is not interpolated).
    size_divisibility=-1,
    pixel_mean=[123.675, 116.28, 103.53],
    pixel_std=[58.395, 57.12, 57.375],
    inference=L(SlidingWindowInference)(crop_size=(CROP, CROP), stride=(512, 512)),
)
