"""MaskFormer for semantic segmentation: scores, postprocessing, inference strategies, training."""

import numpy as np
import pytest
import torch
from torch import nn

from det.layers import ShapeSpec
from det.modeling.backbone import SimpleFeaturePyramid, ViT
from det.modeling.mask2former import (
    HungarianMatcher,
    MaskFormerHead,
    MSDeformAttnPixelDecoder,
    MultiScaleFlipInference,
    MultiScaleMaskedTransformerDecoder,
    SetCriterion,
    SlidingWindowInference,
    WholeImageInference,
)
from det.modeling.meta_arch import MaskFormer
from det.modeling.postprocessing import sem_seg_postprocess
from det.structures import Instances


def _np_resize_bilinear(x, out_h, out_w):
    """ndarray[C, H, W] -> [C, out_h, out_w], align_corners=False, edge-clamped (as torch)."""
    _, h, w = x.shape

    def taps(n_out, n_in):
        src = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0)
        i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, src - i0

    y0, y1, fy = taps(out_h, h)
    x0, x1, fx = taps(out_w, w)
    rows = x[:, y0] * (1 - fy)[None, :, None] + x[:, y1] * fy[None, :, None]
    return rows[:, :, x0] * (1 - fx) + rows[:, :, x1] * fx


def test_semantic_inference_and_postprocess_match_numpy():
    g = torch.Generator().manual_seed(0)
    cls = torch.randn(5, 4, generator=g)  # Q = 5, K = 3 + no-object
    masks = torch.randn(5, 6, 8, generator=g)
    scores = MaskFormer.semantic_inference(cls, masks)
    c, m = cls.numpy().astype(np.float64), masks.numpy().astype(np.float64)
    p = np.exp(c) / np.exp(c).sum(1, keepdims=True)
    want = np.zeros((3, 6, 8))
    for q in range(5):
        for k in range(3):
            want[k] += p[q, k] / (1 + np.exp(-m[q]))
    np.testing.assert_allclose(scores.numpy(), want, rtol=1e-5)
    # Crop the padding (image 5 x 7 inside 6 x 8), resize to the original 11 x 13.
    out = sem_seg_postprocess(scores, (5, 7), 11, 13)
    np.testing.assert_allclose(out.numpy(), _np_resize_bilinear(want[:, :5, :7], 11, 13), rtol=1e-5)


class _PixelModel(nn.Module):
    """Per-pixel scores: translation equivariant, and not symmetric under flips."""

    def __init__(self, k=4):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(3, 8, 1), nn.Tanh(), nn.Conv2d(8, k, 1))
        self.calls = []

    def forward(self, images):
        self.calls.append(tuple(images.shape[-2:]))
        return self.net(images / 255.0) * 3


@pytest.mark.parametrize("size", [(50, 77), (32, 40), (20, 30)])
def test_sliding_window_reproduces_whole_image(size):
    model = _PixelModel()
    image = torch.rand(3, *size) * 255
    with torch.no_grad():
        whole = WholeImageInference()(model, image, (61, 90))
        slide = SlidingWindowInference(crop_size=(32, 40), stride=(20, 24))
        model.calls.clear()
        got = slide(model, image, (61, 90))
    torch.testing.assert_close(got, whole, atol=1e-6, rtol=1e-6)
    h, w = size
    n_h = max(h - 32 + 19, 0) // 20 + 1
    n_w = max(w - 40 + 23, 0) // 24 + 1
    assert len(model.calls) == n_h * n_w
    assert all(c == (min(32, h), min(40, w)) for c in model.calls)


def test_sliding_window_positions_cover_the_border():
    assert SlidingWindowInference._starts(77, 40, 24) == [0, 24, 37]
    assert SlidingWindowInference._starts(2000, 896, 512) == [0, 512, 1024, 1104]
    assert SlidingWindowInference._starts(896, 896, 512) == [0]
    assert SlidingWindowInference._starts(500, 896, 512) == [0]
    with pytest.raises(ValueError, match="stride"):
        SlidingWindowInference(crop_size=(32, 32), stride=(40, 16))


class _ConvModel(nn.Module):
    """A 3x3 conv: zero padding makes the border (and the padded area) matter."""

    def __init__(self, k=3):
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(3, k, 3, padding=1)

    def forward(self, images):
        return self.conv(images / 255.0) * 4


def test_multiscale_flip_averages_softmax_of_flipped_back_passes():
    model = _ConvModel()
    image = torch.rand(3, 32, 48) * 255
    # Ratio 1 keeps 32 x 48 (scale (48, 32), multiple of 16); pad to 40 with black.
    ms = MultiScaleFlipInference(
        base=WholeImageInference(),
        scale=(48, 32),
        ratios=[1.0],
        flip=True,
        size_divisor=16,
        pad_short_side=40,
    )
    with torch.no_grad():
        got = ms(model, image, (32, 48))

        def one(img):
            padded = torch.nn.functional.pad(img, (0, 0, 0, 8), value=0.0)
            return model(padded[None])[0][:, :32, :48].softmax(0)

        want = (one(image) + one(image.flip(-1)).flip(-1)) / 2
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(got.sum(0), torch.ones(32, 48))


def test_multiscale_sizes_follow_mmcv_rules():
    ms = MultiScaleFlipInference(
        base=WholeImageInference(), scale=(3584, 896), ratios=[512 / 896, 1.0, 1280 / 896]
    )
    # 512 x 683 (ADE-like): ratio 1 -> short side 896 -> (896, 1195) -> (896, 1216).
    assert ms.resized_size(512, 683, 1.0) == (896, 1216)
    assert ms.resized_size(512, 683, 512 / 896) == (512, 704)
    assert ms.resized_size(512, 683, 1280 / 896) == (1280, 1728)
    # Long side capped: 100 x 1000 at ratio 1 -> factor min(3584/1000, 896/100) = 3.584.
    assert ms.resized_size(100, 1000, 1.0) == (384, 3584)

    model = _ConvModel()
    ms = MultiScaleFlipInference(
        base=SlidingWindowInference((32, 32), (16, 16)),
        scale=(96, 32),
        ratios=[0.5, 1.0, 1.5],
        flip=True,
        size_divisor=8,
        pad_short_side=32,
    )
    with torch.no_grad():
        out = ms(model, torch.rand(3, 30, 50) * 255, (30, 50))
    assert out.shape == (3, 30, 50)
    torch.testing.assert_close(out.sum(0), torch.ones(30, 50))


def _tiny_maskformer(num_classes=3, inference=None):
    torch.manual_seed(0)
    net = ViT(img_size=64, patch_size=16, embed_dim=32, depth=1, num_heads=2, drop_path_rate=0.0)
    backbone = SimpleFeaturePyramid(
        net, "last_feat", out_channels=32, scale_factors=(4.0, 2.0, 1.0, 0.5), square_pad=64
    )
    shapes = {f"p{lvl}": ShapeSpec(channels=32, stride=2**lvl) for lvl in (2, 3, 4, 5)}
    head = MaskFormerHead(
        pixel_decoder=MSDeformAttnPixelDecoder(
            input_shape=shapes,
            transformer_in_features=["p3", "p4", "p5"],
            conv_dim=32,
            mask_dim=32,
            transformer_nheads=2,
            transformer_dim_feedforward=32,
            transformer_enc_layers=1,
        ),
        predictor=MultiScaleMaskedTransformerDecoder(
            in_channels=32,
            num_classes=num_classes,
            hidden_dim=32,
            num_queries=5,
            nheads=2,
            dim_feedforward=32,
            dec_layers=2,
            mask_dim=32,
        ),
    )
    criterion = SetCriterion(
        num_classes=num_classes,
        matcher=HungarianMatcher(2.0, 5.0, 5.0, num_points=64),
        weight_dict={"loss_ce": 2.0, "loss_mask": 5.0, "loss_dice": 5.0},
        eos_coef=0.1,
        losses=["labels", "masks"],
        num_points=64,
        oversample_ratio=3.0,
        importance_sample_ratio=0.75,
    )
    return MaskFormer(
        backbone=backbone,
        sem_seg_head=head,
        criterion=criterion,
        size_divisibility=-1,
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
        inference=inference,
    )


def _input(h, w, classes):
    image = torch.randint(0, 256, (3, h, w), dtype=torch.uint8)
    sem_seg = torch.full((h, w), 255, dtype=torch.long)
    for i, c in enumerate(classes):
        sem_seg[:, i * w // max(len(classes), 1) :] = c
    inst = Instances((h, w))
    inst.gt_classes = torch.tensor(classes, dtype=torch.long)
    inst.gt_masks = sem_seg[None] == inst.gt_classes[:, None, None]
    return {"image": image, "sem_seg": sem_seg, "instances": inst}


def test_training_forward_backward_with_an_empty_image():
    model = _tiny_maskformer().train()
    batch = [_input(64, 48, [0, 2]), _input(40, 64, [1]), _input(56, 56, [])]
    torch.manual_seed(0)
    losses = model(batch)
    assert set(losses) == {f"loss_{n}{s}" for n in ("ce", "mask", "dice") for s in ("", "_0", "_1")}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert sum(g is not None and bool(g.abs().sum() > 0) for g in grads) > 0.9 * len(grads)


def test_training_targets_are_zero_padded_to_the_batch():
    model = _tiny_maskformer()
    inp = _input(40, 30, [1])
    targets = model._prepare_targets([inp["instances"]], (64, 64))
    assert targets[0]["masks"].shape == (1, 64, 64)
    assert targets[0]["masks"][0, :40, :30].all() and not targets[0]["masks"][0, 40:].any()


def test_inference_segment_pads_after_normalization_and_resizes_output():
    model = _tiny_maskformer().eval()
    image = torch.randint(0, 256, (3, 50, 60), dtype=torch.uint8)
    with torch.no_grad():
        out = model([{"image": image, "height": 100, "width": 120}])[0]["sem_seg"]
        assert out.shape == (3, 100, 120)
        # Manually: normalize, pad with 0 to the 64 square, run, upsample, crop, resize.
        x = (image.float() - model.pixel_mean) / model.pixel_std
        x = torch.nn.functional.pad(x, (0, 4, 0, 14))[None]
        raw = model.sem_seg_head(model.backbone(x))
        scores = MaskFormer.semantic_inference(raw["pred_logits"][0], raw["pred_masks"][0])
        scores = torch.nn.functional.interpolate(
            scores[None], size=(64, 64), mode="bilinear", align_corners=False
        )[0]
        want = sem_seg_postprocess(scores, (50, 60), 100, 120)
    torch.testing.assert_close(out, want)


def test_inference_uses_the_configured_strategy():
    strategy = SlidingWindowInference(crop_size=(64, 64), stride=(32, 32))
    model = _tiny_maskformer(inference=strategy).eval()
    calls = []
    segment = model.segment
    model.segment = lambda images: calls.append(tuple(images.shape[-2:])) or segment(images)
    with torch.no_grad():
        out = model([{"image": torch.zeros(3, 64, 100, dtype=torch.uint8)}])[0]["sem_seg"]
    assert out.shape == (3, 64, 100)
    assert calls == [(64, 64)] * 3  # windows at x = 0, 32, 36


def test_training_without_instances_names_the_mapper():
    model = _tiny_maskformer().train()
    with pytest.raises(ValueError, match="MaskFormerSemanticDatasetMapper"):
        model([{"image": torch.zeros(3, 32, 32, dtype=torch.uint8)}])
