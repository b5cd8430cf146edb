"""SimpleFeaturePyramid: levels, strides, module names and a stage computed by hand."""

from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from det.modeling.backbone import LastLevelMaxPool, SimpleFeaturePyramid, ViT

LN = partial(nn.LayerNorm, eps=1e-6)


def _sfp(**kwargs) -> SimpleFeaturePyramid:
    net = ViT(img_size=128, patch_size=16, embed_dim=32, depth=1, num_heads=2, norm_layer=LN)
    args = dict(
        net=net,
        in_feature="last_feat",
        out_channels=16,
        scale_factors=(4.0, 2.0, 1.0, 0.5),
        top_block=LastLevelMaxPool(),
        norm="LN",
        square_pad=128,
    )
    args.update(kwargs)
    return SimpleFeaturePyramid(**args)


def _channel_ln(x, weight, bias, eps=1e-6):
    mean = x.mean(1, keepdim=True)
    var = (x - mean).pow(2).mean(1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight[:, None, None] + bias[:, None, None]


def test_levels_strides_and_shapes():
    sfp = _sfp()
    out = sfp(torch.randn(2, 3, 128, 128))
    assert list(out) == ["p2", "p3", "p4", "p5", "p6"]
    assert [tuple(v.shape[-2:]) for v in out.values()] == [
        (32, 32),
        (16, 16),
        (8, 8),
        (4, 4),
        (2, 2),
    ]
    shapes = sfp.output_shape()
    assert {k: (s.channels, s.stride) for k, s in shapes.items()} == {
        "p2": (16, 4),
        "p3": (16, 8),
        "p4": (16, 16),
        "p5": (16, 32),
        "p6": (16, 64),
    }
    assert sfp.size_divisibility == 32
    assert sfp.padding_constraints == {"size_divisibility": 32, "square_size": 128}
    torch.testing.assert_close(out["p6"], out["p5"][:, :, ::2, ::2])


def test_stage_by_hand():
    sfp = _sfp()
    x = torch.randn(1, 3, 128, 128)
    feat = sfp.net(x)["last_feat"]
    stage = sfp.simfp_5  # maxpool, 1x1 conv + LN, 3x3 conv + LN
    y = F.max_pool2d(feat, 2, 2)
    y = _channel_ln(F.conv2d(y, stage[1].weight), stage[1].norm.weight, stage[1].norm.bias)
    y = F.conv2d(y, stage[2].weight, padding=1)
    y = _channel_ln(y, stage[2].norm.weight, stage[2].norm.bias)
    torch.testing.assert_close(sfp(x)["p5"], y, rtol=1e-5, atol=1e-5)

    stage = sfp.simfp_2  # deconv, LN, GELU, deconv, then the two convs
    z = F.conv_transpose2d(feat, stage[0].weight, stage[0].bias, stride=2)
    z = F.gelu(_channel_ln(z, stage[1].weight, stage[1].bias))
    z = F.conv_transpose2d(z, stage[3].weight, stage[3].bias, stride=2)
    z = _channel_ln(F.conv2d(z, stage[4].weight), stage[4].norm.weight, stage[4].norm.bias)
    z = _channel_ln(
        F.conv2d(z, stage[5].weight, padding=1), stage[5].norm.weight, stage[5].norm.bias
    )
    torch.testing.assert_close(sfp(x)["p2"], z, rtol=1e-5, atol=1e-5)


def test_module_names_and_order():
    keys = list(_sfp().state_dict())
    assert keys[0] == "simfp_2.0.weight"
    assert keys.index("simfp_5.2.norm.bias") < keys.index("net.pos_embed")
    assert "simfp_2.3.weight" in keys and "simfp_5.1.weight" in keys
    assert not any(k.startswith("simfp_5.0") for k in keys)  # max-pool has no parameters


def test_no_norm_means_conv_bias():
    sfp = _sfp(norm="")
    keys = set(sfp.state_dict())
    assert "simfp_4.0.bias" in keys and "simfp_4.0.norm.weight" not in keys
    assert sfp(torch.randn(1, 3, 128, 128))["p2"].shape == (1, 16, 32, 32)


def test_bad_scale_and_feature_names_raise():
    with pytest.raises(NotImplementedError, match="scale_factor=3.0"):
        _sfp(scale_factors=(3.0,))
    with pytest.raises(KeyError, match="res5"):
        _sfp(in_feature="res5")
