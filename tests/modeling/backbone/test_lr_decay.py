"""Layer-wise LR decay: the spec's rule and table, and its use through the optimizer params."""

from functools import partial

import pytest
import torch
from torch import nn

from det.modeling.backbone import LastLevelMaxPool, SimpleFeaturePyramid, ViT, get_vit_lr_decay_rate


@pytest.mark.parametrize(
    "name, rate, layers, expected",
    [
        ("backbone.net.pos_embed", 0.7, 12, 0.7**13),  # 0.009689
        ("backbone.net.patch_embed.proj.weight", 0.7, 12, 0.7**13),
        ("backbone.net.blocks.0.attn.q_bias", 0.7, 12, 0.7**12),  # 0.013841
        ("backbone.net.blocks.11.mlp.w3.bias", 0.7, 12, 0.7),
        ("backbone.net.blocks.3.residual.conv1.weight", 0.7, 12, 1.0),
        ("backbone.simfp_2.0.weight", 0.7, 12, 1.0),
        ("roi_heads.box_predictor.0.cls_score.weight", 0.7, 12, 1.0),
        ("proposal_generator.rpn_head.conv.weight", 0.8, 24, 1.0),
        ("backbone.net.pos_embed", 0.8, 24, 0.8**25),  # 0.003778
        ("backbone.net.blocks.0.norm1.weight", 0.8, 24, 0.8**24),  # 0.004722
        ("backbone.net.blocks.23.norm2.bias", 0.8, 24, 0.8),
        ("backbone.net.blocks.10.attn.proj.weight", 0.8, 24, 0.8**14),
    ],
)
def test_rule(name, rate, layers, expected):
    assert get_vit_lr_decay_rate(name, lr_decay_rate=rate, num_layers=layers) == pytest.approx(
        expected, rel=1e-12
    )


def test_spec_table_values():
    assert get_vit_lr_decay_rate("backbone.net.pos_embed", 0.7, 12) == pytest.approx(0.009689, 1e-4)
    assert get_vit_lr_decay_rate("backbone.net.blocks.0.x", 0.7, 12) == pytest.approx(
        0.013841, 1e-4
    )
    assert get_vit_lr_decay_rate("backbone.net.pos_embed", 0.8, 24) == pytest.approx(0.003778, 1e-3)
    assert get_vit_lr_decay_rate("backbone.net.blocks.0.x", 0.8, 24) == pytest.approx(
        0.004722, 1e-3
    )


def test_optimizer_groups_for_vit_b():
    from det.solver import get_default_optimizer_params

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            net = ViT(
                img_size=1024,
                window_size=16,
                window_block_indexes=[0, 1, 3, 4, 6, 7, 9, 10],
                norm_layer=partial(nn.LayerNorm, eps=1e-6),
            )
            self.backbone = SimpleFeaturePyramid(
                net,
                "last_feat",
                256,
                (4.0, 2.0, 1.0, 0.5),
                top_block=LastLevelMaxPool(),
                square_pad=1024,
            )

    with torch.device("meta"):
        model = Model()
    groups = get_default_optimizer_params(
        model,
        base_lr=1.0,
        weight_decay_norm=None,
        overrides={},
        lr_factor_func=partial(get_vit_lr_decay_rate, num_layers=12, lr_decay_rate=0.7),
    )
    lrs = sorted({round(g["lr"], 12) for g in groups})
    assert len(groups) == 14  # embeddings, 12 blocks, everything else (spec section 3)
    assert lrs == sorted({round(0.7**k, 12) for k in range(14)})
    assert all("weight_decay" not in g for g in groups)
