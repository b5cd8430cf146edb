"""UperNet / FCN heads, the four-scale ViT neck and the encoder-decoder meta-architecture:
mmseg parameter names, forward against a functional reference, losses, padding and errors."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from det.modeling.backbone import Backbone, FourScaleNeck, TimmViT
from det.modeling.mask2former import SlidingWindowInference
from det.modeling.meta_arch import EncoderDecoder
from det.modeling.segmentation import FCNHead, UPerHead, sem_seg_cross_entropy

NAMES = ["res2", "res3", "res4", "res5"]


def _bn_keys(prefix):
    return {f"{prefix}.bn.{k}" for k in ("weight", "bias", "running_mean", "running_var")} | {
        f"{prefix}.bn.num_batches_tracked",
        f"{prefix}.conv.weight",
    }


def _upernet(channels=8, dims=(4, 6, 5, 7), **kwargs):
    return UPerHead(
        in_features=NAMES, in_channels=dims, channels=channels, num_classes=3, norm="BN", **kwargs
    )


def _features(dims=(4, 6, 5, 7), size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        n: torch.randn(2, c, size // s, size // s, generator=g)
        for n, c, s in zip(NAMES, dims, (4, 8, 16, 32))
    }


def _randomize_bn(module):
    g = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def test_upernet_parameter_names_are_mmsegs():
    head = _upernet()
    expected = {"conv_seg.weight", "conv_seg.bias"}
    for i in range(4):
        expected |= _bn_keys(f"psp_modules.{i}.1")
    expected |= _bn_keys("bottleneck") | _bn_keys("fpn_bottleneck")
    for i in range(3):
        expected |= _bn_keys(f"lateral_convs.{i}") | _bn_keys(f"fpn_convs.{i}")
    assert set(head.state_dict()) == expected
    # No conv bias under a norm (mmcv's bias="auto"); shapes as mmseg's UPerHead.
    assert head.bottleneck.conv.weight.shape == (8, 7 + 4 * 8, 3, 3)
    assert head.fpn_bottleneck.conv.weight.shape == (8, 4 * 8, 3, 3)
    assert head.lateral_convs[1].conv.weight.shape == (8, 6, 1, 1)


def _cbr(x, m):
    bn = m.bn
    y = F.conv2d(x, m.conv.weight, None, padding=m.conv.kernel_size[0] // 2)
    y = F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
    return y.clamp(min=0)


def _up(x, size):
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def test_upernet_forward_matches_functional_reference():
    head = _upernet().eval()
    _randomize_bn(head)
    feats = _features()
    x = [feats[n] for n in NAMES]
    top = x[3]
    ppm = [
        _up(_cbr(F.adaptive_avg_pool2d(top, s), head.psp_modules[i][1]), top.shape[-2:])
        for i, s in enumerate((1, 2, 3, 6))
    ]
    lat = [_cbr(x[i], head.lateral_convs[i]) for i in range(3)]
    lat.append(_cbr(torch.cat([top] + ppm, 1), head.bottleneck))
    for i in (3, 2, 1):
        lat[i - 1] = lat[i - 1] + _up(lat[i], lat[i - 1].shape[-2:])
    outs = [_cbr(lat[i], head.fpn_convs[i]) for i in range(3)] + [lat[3]]
    outs = [outs[0]] + [_up(o, outs[0].shape[-2:]) for o in outs[1:]]
    fused = _cbr(torch.cat(outs, 1), head.fpn_bottleneck)
    expected = F.conv2d(fused, head.conv_seg.weight, head.conv_seg.bias)
    with torch.no_grad():
        got = head(feats)
    assert got.shape == (2, 3, 8, 8)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_fcn_head_names_forward_and_concat():
    head = FCNHead(
        in_features=["res4"], in_channels=5, channels=6, num_classes=3, norm="BN", loss_weight=0.4
    )
    assert set(head.state_dict()) == _bn_keys("convs.0") | {"conv_seg.weight", "conv_seg.bias"}
    head.eval()
    _randomize_bn(head)
    feats = _features()
    with torch.no_grad():
        got = head(feats)
    ref = F.conv2d(_cbr(feats["res4"], head.convs[0]), head.conv_seg.weight, head.conv_seg.bias)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)
    two = FCNHead(
        in_features=["res4"],
        in_channels=5,
        channels=6,
        num_classes=3,
        norm="BN",
        num_convs=2,
        concat_input=True,
    )
    assert {"convs.1.conv.weight", "conv_cat.conv.weight"} <= set(two.state_dict())
    assert two.conv_cat.conv.weight.shape == (6, 11, 3, 3)
    assert two(feats).shape == (2, 3, 2, 2)


def test_heads_reject_bad_arguments():
    with pytest.raises(ValueError, match="one map"):
        FCNHead(in_features=["res3", "res4"], in_channels=5, channels=6, num_classes=3)
    with pytest.raises(ValueError, match="same length"):
        UPerHead(in_features=NAMES, in_channels=[4, 4], channels=8, num_classes=3)
    head = _upernet()
    with pytest.raises(KeyError, match=r"\['res5'\].*backbone gives"):
        head({k: v for k, v in _features().items() if k != "res5"})


def test_cross_entropy_averages_over_all_pixels_like_mmseg():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 3, 3, generator=g)
    targets = torch.randint(0, 4, (2, 6, 6), generator=g)
    targets[0, :3] = 255
    up = _up(logits, (6, 6))
    per_pixel = -up.log_softmax(1).gather(1, targets.clamp(max=3)[:, None])[:, 0]
    valid = targets != 255
    loss = sem_seg_cross_entropy(logits, targets)
    torch.testing.assert_close(loss, (per_pixel * valid).sum() / targets.numel())
    loss_valid = sem_seg_cross_entropy(logits, targets, avg_non_ignore=True)
    torch.testing.assert_close(loss_valid, per_pixel[valid].mean())
    with pytest.raises(ValueError, match=r"\[B, K, h, w\]"):
        sem_seg_cross_entropy(logits[0], targets)


def _vit(dim=16, depth=4):
    return TimmViT(
        embed_dim=dim,
        depth=depth,
        num_heads=2,
        pretrain_img_size=64,
        use_cls_token=True,
        interpolate_pos_embed=True,
        out_indices=[0, 1, 2, 3],
    )


def test_four_scale_neck_names_strides_and_levels():
    torch.manual_seed(0)
    neck = FourScaleNeck(_vit(), in_features=["b0", "b1", "b2", "b3"], norm="BN").eval()
    own = {k for k in neck.state_dict() if not k.startswith("net.")}
    assert own == {
        "fpn1.0.weight",
        "fpn1.0.bias",
        "fpn1.3.weight",
        "fpn1.3.bias",
        "fpn2.0.weight",
        "fpn2.0.bias",
        "fpn1.1.weight",
        "fpn1.1.bias",
        "fpn1.1.running_mean",
        "fpn1.1.running_var",
        "fpn1.1.num_batches_tracked",
    }
    shapes = neck.output_shape()
    assert [(n, s.channels, s.stride) for n, s in shapes.items()] == [
        ("res2", 16, 4),
        ("res3", 16, 8),
        ("res4", 16, 16),
        ("res5", 16, 32),
    ]
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        out = neck(x)
        vit = neck.net(x)
    assert {n: tuple(t.shape[-2:]) for n, t in out.items()} == {
        "res2": (16, 24),
        "res3": (8, 12),
        "res4": (4, 6),
        "res5": (2, 3),
    }
    torch.testing.assert_close(out["res4"], vit["b2"])
    torch.testing.assert_close(out["res5"], F.max_pool2d(vit["b3"], 2))
    with pytest.raises(ValueError, match="must name 4 outputs"):
        FourScaleNeck(_vit(), in_features=["b0", "b1", "b2", "b9"])


class _Pyramid(Backbone):
    """Strided convs standing in for a backbone (cheap, deterministic)."""

    def __init__(self, dim=8):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(3 if i == 0 else dim, dim, 3, s, 1) for i, s in enumerate((4, 2, 2, 2))
        )
        self._out_features = list(NAMES)
        self._out_feature_channels = dict.fromkeys(NAMES, dim)
        self._out_feature_strides = dict(zip(NAMES, (4, 8, 16, 32)))

    @property
    def size_divisibility(self):
        return 32

    def forward(self, x):
        out = {}
        for name, conv in zip(NAMES, self.convs):
            x = conv(x)
            out[name] = x
        return out


def _model(aux=True, **kwargs):
    torch.manual_seed(0)
    return EncoderDecoder(
        backbone=_Pyramid(),
        decode_head=_upernet(dims=(8, 8, 8, 8)),
        auxiliary_head=FCNHead(
            in_features=["res4"],
            in_channels=8,
            channels=4,
            num_classes=3,
            norm="BN",
            loss_weight=0.4,
        )
        if aux
        else None,
        pixel_mean=[100.0, 110.0, 120.0],
        pixel_std=[50.0, 50.0, 50.0],
        **kwargs,
    )


def _inputs():
    g = torch.Generator().manual_seed(0)
    return [
        {
            "image": torch.randint(0, 256, (3, 64, 64), generator=g, dtype=torch.uint8),
            "sem_seg": torch.randint(0, 3, (64, 64), generator=g),
        },
        {
            "image": torch.randint(0, 256, (3, 48, 40), generator=g, dtype=torch.uint8),
            "sem_seg": torch.randint(0, 3, (48, 40), generator=g),
        },
    ]


def test_encoder_decoder_losses_padding_and_gradients():
    model = _model().train()
    inputs = _inputs()
    losses = model(inputs)
    assert set(losses) == {"loss_sem_seg", "loss_aux"}
    # Initial CE is about log(3) per labeled pixel; padding (ignored) counts 0 in the mean.
    labeled = 64 * 64 + 48 * 40
    frac = labeled / (2 * 64 * 64)
    assert abs(losses["loss_sem_seg"].item() - frac * torch.log(torch.tensor(3.0)).item()) < 0.3
    assert losses["loss_aux"].item() < losses["loss_sem_seg"].item()  # weighted 0.4
    sum(losses.values()).backward()
    assert model.backbone.convs[0].weight.grad.abs().sum() > 0
    assert model.auxiliary_head.conv_seg.weight.grad.abs().sum() > 0
    targets = model._targets(inputs, (64, 64))
    assert (targets[1, 48:] == 255).all() and (targets[1, :, 40:] == 255).all()
    torch.testing.assert_close(targets[1, :48, :40], inputs[1]["sem_seg"])
    with pytest.raises(ValueError, match=r"\[1\] have no 'sem_seg'"):
        model([inputs[0], {"image": inputs[1]["image"]}])


def test_encoder_decoder_pads_training_batches_up_to_the_crop():
    shapes = []
    for pad in (None, 80, (64, 100)):
        model = _model(train_pad_size=pad).train()
        hook = model.backbone.register_forward_hook(lambda m, args, out: shapes.append(args[0]))
        losses = model(_inputs()[1:] * 2)  # two 48 x 40 images (BN needs a batch)
        hook.remove()
        assert torch.isfinite(losses["loss_sem_seg"])
    # size_divisibility 32 alone gives 64 x 64; the pad size is rounded up to a multiple of 32.
    assert [tuple(x.shape[-2:]) for x in shapes] == [(64, 64), (96, 96), (64, 128)]
    # Padding is zero in the normalized space, i.e. the pixel mean.
    assert (shapes[1][..., 48:, :] == 0).all() and (shapes[1][..., :, 40:] == 0).all()
    torch.testing.assert_close(shapes[1][..., :64, :64], shapes[0])
    model = _model(train_pad_size=32).train()  # batches larger than the pad size are kept
    assert model._batch([_inputs()[0]["image"]]).tensor.shape[-2:] == (64, 64)
    model.eval()  # inference never pads to it
    hook = model.backbone.register_forward_hook(lambda m, args, out: shapes.append(args[0]))
    with torch.no_grad():
        model([{"image": _inputs()[1]["image"]}])
    assert tuple(shapes[-1].shape[-2:]) == (64, 64)
    with pytest.raises(ValueError, match="train_pad_size"):
        _model(train_pad_size=(512,))


def test_encoder_decoder_inference_sizes_and_sliding_windows():
    model = _model(aux=False).eval()
    image = torch.randint(0, 256, (3, 48, 40), dtype=torch.uint8)
    with torch.no_grad():
        (out,) = model([{"image": image, "height": 96, "width": 80}])
        logits = model.segment(image[None].float())
    assert out["sem_seg"].shape == (3, 96, 80)
    assert logits.shape == (1, 3, 48, 40)
    torch.testing.assert_close(out["sem_seg"], _up(logits, (96, 80))[0], rtol=1e-4, atol=1e-5)
    slide = _model(aux=False, inference=SlidingWindowInference((32, 32), (16, 16))).eval()
    with torch.no_grad():
        (tiled,) = slide([{"image": image}])
    assert tiled["sem_seg"].shape == (3, 48, 40) and torch.isfinite(tiled["sem_seg"]).all()
