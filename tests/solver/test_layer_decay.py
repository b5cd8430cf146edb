"""Layer-wise lr decay (mmseg LayerDecayOptimizerConstructor rules) and mmcv's poly warm-up.

Expected ids and scales are written out by hand from the constructor's rules (spec section
5.3 items 12-13) and mmcv's LrUpdaterHook formulas, not computed by the code under test.
"""

from __future__ import annotations

import pytest
import torch
from fvcore.common.param_scheduler import PolynomialDecayParamScheduler
from torch import nn

from det.solver import LRMultiplier, WarmupParamScheduler
from det.solver.layer_decay import (
    get_layer_decay_lr_scale,
    get_layer_decay_optimizer_params,
    get_layer_id,
)
from det.solver.mmcv_warmup import MMCVWarmupParamScheduler

# mmseg's own layer-0 head names, and det's Mask2Former equivalents.
_MMSEG_HEAD0 = [
    f"decode_head.{n}"
    for n in ("mask_embed", "cls_embed", "level_embed", "query_embed", "query_feat")
]
_DET_HEAD0 = [
    f"sem_seg_head.predictor.{n}"
    for n in ("query_feat", "query_embed", "level_embed", "class_embed", "mask_embed")
]


@pytest.mark.parametrize(
    "name,want",
    [
        # mmseg names of a BEiT-L ViT-Adapter + Mask2Former (num_layers 24 -> max id 25).
        ("backbone.cls_token", 0),
        ("backbone.pos_embed", 0),
        ("backbone.mask_token", 0),
        ("backbone.patch_embed.proj.weight", 0),
        ("backbone.blocks.0.norm1.weight", 1),
        ("backbone.blocks.11.attn.relative_position_bias_table", 12),
        ("backbone.blocks.23.gamma_2", 24),
        ("backbone.norm.weight", 25),
        ("backbone.level_embed", 25),
        ("backbone.spm.stem.0.weight", 25),
        ("backbone.interactions.3.extra_extractors.1.ffn.fc1.weight", 25),
        ("backbone.up.weight", 25),
        ("backbone.norm4.bias", 25),
        ("decode_head.query_feat.weight", 0),
        ("decode_head.level_embed.weight", 0),
        ("decode_head.cls_embed.bias", 0),
        ("decode_head.mask_embed.4.weight", 0),
        ("decode_head.pixel_decoder.level_encoding.weight", 25),
        ("decode_head.transformer_decoder.layers.8.ffns.0.layers.1.weight", 25),
        ("auxiliary_head.conv_seg.weight", 25),
    ],
)
def test_mmseg_layer_ids(name, want):
    assert get_layer_id(name, 24, "backbone.", _MMSEG_HEAD0) == want


@pytest.mark.parametrize(
    "name,want",
    [
        # det names: the ViT under backbone.vit (ViTAdapter), det's Mask2Former head.
        ("backbone.vit.cls_token", 0),
        ("backbone.vit.patch_embed.proj.bias", 0),
        ("backbone.vit.blocks.39.mlp.fc2.weight", 40),
        ("backbone.vit.blocks.9.attn.q_bias", 10),
        ("backbone.vit.rel_pos_bias.relative_position_bias_table", 41),
        ("backbone.level_embed", 41),  # the adapter's, not the decoder's
        ("backbone.interactions.0.injector.gamma", 41),
        ("sem_seg_head.predictor.query_embed.weight", 0),
        ("sem_seg_head.predictor.class_embed.weight", 0),
        ("sem_seg_head.predictor.mask_embed.layers.2.bias", 0),
        ("sem_seg_head.predictor.query_embed_extra.weight", 41),  # whole-name prefixes only
        ("sem_seg_head.predictor.decoder_norm.weight", 41),
        ("sem_seg_head.pixel_decoder.transformer.level_embed", 41),
    ],
)
def test_det_adapter_mask2former_layer_ids(name, want):
    assert get_layer_id(name, 40, "backbone.vit.", _DET_HEAD0) == want


def test_plain_vit_and_neck_prefixes():
    # A UperNet on a bare BEiT (no adapter): names directly under backbone.
    assert get_layer_id("backbone.blocks.3.attn.qkv.weight", 12) == 4
    assert get_layer_id("backbone.fpn1.0.weight", 12) == 13
    # No layer-0 head prefixes by default: UperNet heads are all at the top.
    assert get_layer_id("decode_head.query_feat.weight", 12) == 13
    # A ViT inside a pyramid module: backbone.net.
    assert get_layer_id("backbone.net.pos_embed", 12, "backbone.net.") == 0
    assert get_layer_id("backbone.net.blocks.0.norm1.weight", 12, "backbone.net.") == 1
    assert get_layer_id("backbone.blocks.0.norm1.weight", 12, "backbone.net.") == 13


def test_num_layers_too_small_is_an_error():
    with pytest.raises(ValueError, match=r"block 12 but num_layers=12.*at least 13"):
        get_layer_id("backbone.blocks.12.norm1.weight", 12)


def test_scales_hand_computed():
    # BEiT-L ViT-Adapter, decay 0.9, 24 blocks: id 0 -> 0.9 ** 25.
    assert get_layer_decay_lr_scale("backbone.cls_token", 0.9, 24) == pytest.approx(
        0.0717897987691853, rel=1e-12
    )
    assert get_layer_decay_lr_scale("backbone.blocks.23.norm1.weight", 0.9, 24) == 0.9
    assert get_layer_decay_lr_scale("decode_head.conv_seg.weight", 0.9, 24) == 1.0
    # EVA-01 (spec 5.3): 0.95 ** 41 ~= 0.1221 and 0.9 ** 41 ~= 0.0133 for the query embeddings.
    name = "sem_seg_head.predictor.query_feat.weight"
    assert get_layer_decay_lr_scale(name, 0.95, 40, "backbone.vit.", _DET_HEAD0) == pytest.approx(
        0.12208654, rel=1e-7
    )
    assert get_layer_decay_lr_scale(name, 0.9, 40, "backbone.vit.", _DET_HEAD0) == pytest.approx(
        0.01330279, rel=1e-6
    )


def _toy_model() -> nn.Module:
    """Exact det-style names: ViT under backbone.vit, adapter modules, Mask2Former head."""
    model = nn.Module()
    model.backbone = nn.Module()
    vit = model.backbone.vit = nn.Module()
    vit.cls_token = nn.Parameter(torch.zeros(1, 1, 4))
    vit.pos_embed = nn.Parameter(torch.zeros(1, 5, 4))
    vit.patch_embed = nn.Module()
    vit.patch_embed.proj = nn.Conv2d(3, 4, 2, 2)
    vit.blocks = nn.ModuleList()
    for _ in range(2):
        blk = nn.Module()
        blk.norm1 = nn.LayerNorm(4)
        blk.q_bias = nn.Parameter(torch.zeros(4))
        blk.gamma_1 = nn.Parameter(torch.ones(4))
        blk.relative_position_bias_table = nn.Parameter(torch.zeros(7, 2))
        blk.fc = nn.Linear(4, 4)
        vit.blocks.append(blk)
    vit.norm = nn.LayerNorm(4)
    model.backbone.level_embed = nn.Parameter(torch.zeros(3, 4))
    model.backbone.spm = nn.Conv2d(3, 4, 1)
    model.backbone.frozen = nn.Parameter(torch.zeros(4, 4), requires_grad=False)
    model.sem_seg_head = nn.Module()
    pred = model.sem_seg_head.predictor = nn.Module()
    pred.query_feat = nn.Embedding(2, 4)
    pred.class_embed = nn.Linear(4, 3)
    pred.decoder_norm = nn.LayerNorm(4)
    pred.ffn = nn.Linear(4, 4)
    return model


def test_param_groups_lr_and_weight_decay():
    model = _toy_model()
    groups = get_layer_decay_optimizer_params(
        model,
        base_lr=2.0,
        weight_decay=0.05,
        layer_decay_rate=0.5,
        num_layers=2,
        vit_prefix="backbone.vit.",
        layer0_prefixes=_DET_HEAD0,
    )
    got = {}
    for group in groups:
        for p in group["params"]:
            assert id(p) not in got
            got[id(p)] = (group["lr"], group["weight_decay"])
    named = dict(model.named_parameters())
    # lr = 2.0 * 0.5 ** (3 - id); wd 0 for 1-D and .bias only (the mmseg rule).
    want = {
        "backbone.vit.cls_token": (0.25, 0.05),
        "backbone.vit.pos_embed": (0.25, 0.05),
        "backbone.vit.patch_embed.proj.weight": (0.25, 0.05),
        "backbone.vit.patch_embed.proj.bias": (0.25, 0.0),
        "backbone.vit.blocks.0.norm1.weight": (0.5, 0.0),
        "backbone.vit.blocks.0.q_bias": (0.5, 0.0),
        "backbone.vit.blocks.0.gamma_1": (0.5, 0.0),
        "backbone.vit.blocks.0.relative_position_bias_table": (0.5, 0.05),
        "backbone.vit.blocks.1.fc.weight": (1.0, 0.05),
        "backbone.vit.blocks.1.fc.bias": (1.0, 0.0),
        "backbone.vit.norm.weight": (2.0, 0.0),
        "backbone.level_embed": (2.0, 0.05),
        "backbone.spm.weight": (2.0, 0.05),
        "sem_seg_head.predictor.query_feat.weight": (0.25, 0.05),
        "sem_seg_head.predictor.class_embed.weight": (0.25, 0.05),
        "sem_seg_head.predictor.class_embed.bias": (0.25, 0.0),
        "sem_seg_head.predictor.decoder_norm.bias": (2.0, 0.0),
        "sem_seg_head.predictor.ffn.weight": (2.0, 0.05),
    }
    for name, (lr, wd) in want.items():
        assert got[id(named[name])] == pytest.approx((lr, wd), rel=1e-12), name
    assert len(got) == len(named) - 1  # the frozen parameter is left out
    assert id(named["backbone.frozen"]) not in got
    # Groups are merged by (lr, weight_decay): 4 lrs x 2 decays, all present here.
    assert len(groups) == 8
    torch.optim.AdamW(groups, lr=2.0)  # valid param groups


# ----------------------------------------------------------------------------------------------
# mmcv's poly schedule with linear warm-up.


def _mmcv_lr(base_lr, it, max_iters, warmup_iters, warmup_ratio=1e-6, power=1.0):
    """mmcv 1.x PolyLrUpdaterHook (min_lr 0) + linear warm-up, at 0-based iteration ``it``."""
    regular = base_lr * (1 - it / max_iters) ** power
    if it >= warmup_iters:
        return regular
    k = (1 - it / warmup_iters) * (1 - warmup_ratio)
    return regular * (1 - k)


def _poly_warmup(warmup_iters, max_iters, power=1.0, ratio=1e-6):
    return MMCVWarmupParamScheduler(
        PolynomialDecayParamScheduler(1.0, power), warmup_iters / max_iters, ratio
    )


def test_poly_warmup_hand_values():
    sched = _poly_warmup(10, 100)
    assert sched(0.0) == pytest.approx(1e-6, rel=1e-9)
    assert sched(5 / 100) == pytest.approx(0.95 * (1 - 0.5 * (1 - 1e-6)), rel=1e-12)
    assert sched(10 / 100) == pytest.approx(0.9, rel=1e-12)
    assert sched(99 / 100) == pytest.approx(0.01, rel=1e-9)
    assert _poly_warmup(10, 100, power=2.0)(50 / 100) == pytest.approx(0.25, rel=1e-12)


def test_poly_warmup_matches_eva01_log():
    # EVA-01 COCO-Stuff log: lr 5.978e-08 at iteration 50 (0-based 49) of the layer-0 group,
    # base lr 1.5e-5, 0.95 ** 41, warm-up 1500, 60k iterations (spec section 5.3 item 15).
    lr = 1.5e-5 * 0.95**41 * _poly_warmup(1500, 60000)(49 / 60000)
    assert lr == pytest.approx(5.978e-08, rel=2e-4)


def test_lr_multiplier_follows_mmcv_per_group():
    max_iter, warmup = 20, 5
    params = [nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD(
        [{"params": [params[0]], "lr": 0.1}, {"params": [params[1]], "lr": 0.025}]
    )
    sched = LRMultiplier(opt, _poly_warmup(warmup, max_iter), max_iter)
    for it in range(max_iter):
        for group, base in zip(opt.param_groups, (0.1, 0.025)):
            assert group["lr"] == pytest.approx(_mmcv_lr(base, it, max_iter, warmup), rel=1e-9)
        opt.step()
        sched.step()
    # detectron2's warm-up interpolates to poly(W / T) instead: different during warm-up.
    d2 = WarmupParamScheduler(PolynomialDecayParamScheduler(1.0, 1.0), 1e-6, warmup / max_iter)
    assert d2(2 / max_iter) != pytest.approx(_mmcv_lr(1.0, 2, max_iter, warmup), rel=1e-3)


def test_bad_warmup_length():
    with pytest.raises(ValueError, match=r"warmup_length must be in \[0, 1\)"):
        MMCVWarmupParamScheduler(PolynomialDecayParamScheduler(1.0, 1.0), 1.5, 1e-6)
