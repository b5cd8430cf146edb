"""ViT-Adapter + UperNet model cards: key values against the published configs, parameter
counts against the README's #Param column, optimizer groups, and the CPU demo end to end."""

import glob
import os
import re
import subprocess
import sys

import pytest
import torch

from det.config import LazyConfig, instantiate
from det.modeling.backbone import BEiT, TimmViT, ViTAdapter
from det.modeling.meta_arch import EncoderDecoder
from det.modeling.segmentation import FCNHead, UPerHead

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG_DIR = os.path.join(ROOT, "projects", "ViTAdapter", "configs")
DEMO = "demo/upernet_tiny_synthetic_ade20k.py"

IMAGENET = ([123.675, 116.28, 103.53], [58.395, 57.12, 57.375])
HALF = ([127.5] * 3, [127.5] * 3)
SPANS12 = [[0, 2], [3, 5], [6, 8], [9, 11]]
SPANS24 = [[0, 5], [6, 11], [12, 17], [18, 23]]

# name: (D, depth, heads, drop path, pretrain size, deform heads, deform ratio, spans, lr,
#        weight decay, layer decay (None: mmcv custom keys), norm, fp16, with_cp, #Param M)
CARDS = {
    "upernet_deit_adapter_tiny_512_160k_ade20k": (
        192,
        12,
        3,
        0.1,
        224,
        6,
        1.0,
        SPANS12,
        12e-5,
        0.01,
        0.95,
        IMAGENET,
        True,
        False,
        36,
    ),
    "upernet_deit_adapter_small_512_160k_ade20k": (
        384,
        12,
        6,
        0.2,
        224,
        6,
        1.0,
        SPANS12,
        6e-5,
        0.01,
        0.95,
        IMAGENET,
        True,
        False,
        58,
    ),
    "upernet_deit_adapter_base_512_160k_ade20k": (
        768,
        12,
        12,
        0.3,
        224,
        12,
        0.5,
        SPANS12,
        6e-5,
        0.01,
        0.95,
        IMAGENET,
        True,
        False,
        134,
    ),
    "upernet_augreg_adapter_tiny_512_160k_ade20k": (
        192,
        12,
        3,
        0.1,
        224,
        6,
        1.0,
        SPANS12,
        12e-5,
        0.01,
        0.95,
        IMAGENET,
        True,
        False,
        36,
    ),
    "upernet_augreg_adapter_base_512_160k_ade20k": (
        768,
        12,
        12,
        0.3,
        384,
        12,
        0.5,
        SPANS12,
        2e-5,
        0.01,
        None,
        HALF,
        True,
        False,
        134,
    ),
    "upernet_augreg_adapter_large_512_160k_ade20k": (
        1024,
        24,
        16,
        0.4,
        384,
        16,
        0.5,
        SPANS24,
        2e-5,
        0.05,
        0.95,
        HALF,
        False,
        True,
        364,
    ),
}


def _load(name):
    return LazyConfig.load(os.path.join(CONFIG_DIR, name))


def test_every_config_is_covered():
    found = sorted(
        os.path.relpath(p, CONFIG_DIR) for p in glob.glob(os.path.join(CONFIG_DIR, "*", "*.py"))
    )
    expected = [f"ade20k/{n}.py" for n in CARDS] + [DEMO, "common/upernet_vit_adapter.py"]
    expected += [f"{n}.py" for n in BEIT_CARDS] + ["common/upernet_beit_adapter.py"]
    expected += [f"{n}.py" for n in M2F_CARDS] + ["common/mask2former_beit_adapter.py"]
    expected += [f"{n}.py" for n in M2F_BASE_CARDS] + ["common/mask2former_beit_adapter_base.py"]
    assert found == sorted(expected)


@pytest.mark.parametrize("name", sorted(CARDS))
def test_card_values(name):
    dim, depth, heads, dp, pre, dheads, dratio, spans, lr, wd, ld, norm, fp16, cp, _ = CARDS[name]
    cfg = _load(f"ade20k/{name}.py")
    vit = cfg.model.backbone.vit
    assert (vit.embed_dim, vit.depth, vit.num_heads, vit.patch_size) == (dim, depth, heads, 16)
    assert vit.drop_path_rate == dp and vit.pretrain_img_size == pre
    assert not vit.use_cls_token and vit.interpolate_pos_embed
    adapter = cfg.model.backbone
    assert [list(s) for s in adapter.interaction_indexes] == spans
    assert (adapter.deform_num_heads, adapter.deform_ratio) == (dheads, dratio)
    assert (adapter.conv_inplane, adapter.n_points, adapter.cffn_ratio) == (64, 4, 0.25)
    assert adapter.init_values == 0.0 and adapter.with_cffn and adapter.use_extra_extractor
    assert adapter.with_cp == cp and vit.use_act_checkpoint == cp
    head, aux = cfg.model.decode_head, cfg.model.auxiliary_head
    assert list(head.in_channels) == [dim] * 4 and aux.in_channels == dim
    assert (head.channels, tuple(head.pool_scales), head.num_classes) == (512, (1, 2, 3, 6), 150)
    assert (aux.channels, list(aux.in_features), aux.loss_weight) == (256, ["res4"], 0.4)
    assert head.dropout_ratio == aux.dropout_ratio == 0.1
    assert (list(cfg.model.pixel_mean), list(cfg.model.pixel_std)) == norm
    assert tuple(cfg.model.inference.crop_size) == (512, 512)
    assert tuple(cfg.model.inference.stride) == (341, 341)
    assert cfg.dataloader.train.mapper.augmentations.crop_size == 512
    assert cfg.dataloader.train.total_batch_size == 16
    assert (cfg.optimizer.lr, cfg.optimizer.weight_decay) == (lr, wd)
    assert tuple(cfg.optimizer.betas) == (0.9, 0.999)
    if ld is None:
        assert set(cfg.optimizer.params.custom_keys) == {
            "level_embed",
            "pos_embed",
            "norm",
            "bias",
            "head",
        }
        assert cfg.optimizer.params.custom_keys["head"] == {"lr_mult": 10.0}
    else:
        assert cfg.optimizer.params.layer_decay_rate == ld
        assert cfg.optimizer.params.vit_prefix == "backbone.vit."
    assert cfg.train.max_iter == 160000 and cfg.train.amp.enabled == fp16
    if fp16:  # ViT-Adapter's fp16 = dict(loss_scale=dict(init_scale=512))
        assert dict(cfg.train.amp.grad_scaler) == {"init_scale": 512.0}
    assert cfg.lr_multiplier.warmup_length == 1500 / 160000
    assert cfg.lr_multiplier.warmup_ratio == 1e-6


@pytest.mark.parametrize("name", sorted(CARDS))
def test_card_builds_with_the_published_parameter_count(name):
    cfg = _load(f"ade20k/{name}.py")
    with torch.device("meta"):
        model = instantiate(cfg.model)
    assert isinstance(model, EncoderDecoder)
    assert isinstance(model.backbone, ViTAdapter) and isinstance(model.backbone.vit, TimmViT)
    assert isinstance(model.decode_head, UPerHead) and isinstance(model.auxiliary_head, FCNHead)
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    assert abs(millions - CARDS[name][-1]) < 0.01 * CARDS[name][-1] + 0.5, millions


def test_optimizer_groups_of_the_tiny_card():
    cfg = _load("ade20k/upernet_deit_adapter_tiny_512_160k_ade20k.py")
    with torch.device("meta"):
        model = instantiate(cfg.model)
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    lr_of = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            lr_of[id(p)] = (group["lr"], group["weight_decay"])
    named = dict(model.named_parameters())
    # Layer ids: embeddings 0, block i -> i + 1, adapter and heads 13 (base lr).
    assert lr_of[id(named["backbone.vit.pos_embed"])][0] == pytest.approx(12e-5 * 0.95**13)
    assert lr_of[id(named["backbone.vit.blocks.11.mlp.fc1.weight"])][0] == pytest.approx(
        12e-5 * 0.95
    )
    assert lr_of[id(named["backbone.level_embed"])][0] == pytest.approx(12e-5)
    assert lr_of[id(named["decode_head.conv_seg.weight"])] == pytest.approx((12e-5, 0.01))
    assert lr_of[id(named["decode_head.conv_seg.bias"])][1] == 0.0


def test_demo_trains_and_evaluates_on_cpu(tmp_path):
    env = dict(os.environ, DETECTRON2_DATASETS=str(tmp_path / "datasets"), OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        os.path.join(ROOT, "tools", "lazyconfig_train_net.py"),
        "--config-file",
        os.path.join(CONFIG_DIR, DEMO),
        f"train.output_dir={tmp_path / 'out'}",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "copypaste: mIoU,fwIoU,mACC,pACC" in log
    numbers = re.findall(r"copypaste: ([\d.]+),([\d.]+),([\d.]+),([\d.]+)", log)
    miou = float(numbers[-1][0])
    # Chance is about 10 mIoU (6 classes); the 150-iteration demo measured 84.8 (seed 0, one
    # thread, under 2 min on the 2-core machine).
    assert miou > 70.0, log[-3000:]
    assert re.search(r"\|\s*aAcc\s*\|\s*mIoU\s*\|\s*mAcc\s*\|", log), log[-3000:]
    assert os.path.isfile(tmp_path / "out" / "model_final.pth")


# BEiT-L adapter cards: (crop, classes, iterations, window stride, train / test dataset,
# train resize scale (None: 4 x crop), #Param M)
BEIT_CARDS = {
    "ade20k/upernet_beit_adapter_large_640_160k_ade20k": (
        640,
        150,
        160000,
        426,
        "ade20k_sem_seg_val",
        None,
        451,
    ),
    "coco_stuff164k/upernet_beit_adapter_large_640_80k_cocostuff164k": (
        640,
        171,
        80000,
        426,
        "coco_2017_val_stuff_sem_seg",
        None,
        451,
    ),
    "coco_stuff10k/upernet_beit_adapter_large_512_80k_cocostuff10k": (
        512,
        171,
        80000,
        341,
        "coco_stuff_10k_sem_seg_test",
        None,
        451,
    ),
    "pascal_context/upernet_beit_adapter_large_480_80k_pascal_context_59": (
        480,
        59,
        80000,
        320,
        "pascal_context_59_sem_seg_val",
        (520, 520),
        451,
    ),
}


@pytest.mark.parametrize("name", sorted(BEIT_CARDS))
def test_beit_adapter_card_values(name):
    crop, classes, iters, stride, test_set, scale, _ = BEIT_CARDS[name]
    cfg = _load(f"{name}.py")
    vit, adapter = cfg.model.backbone.vit, cfg.model.backbone
    assert (vit.embed_dim, vit.depth, vit.num_heads, vit.img_size) == (1024, 24, 16, crop)
    assert vit.use_rel_pos_bias and not vit.use_abs_pos_emb and vit.init_values == 1e-6
    assert vit.drop_path_rate == 0.3 and vit.use_act_checkpoint and adapter.with_cp
    assert adapter.init_values == 1e-6 and adapter.drop_path_rate == 0.3
    assert (adapter.deform_num_heads, adapter.deform_ratio) == (16, 0.5)
    assert [list(s) for s in adapter.interaction_indexes] == SPANS24
    head, aux = cfg.model.decode_head, cfg.model.auxiliary_head
    assert (head.channels, head.num_classes, aux.num_classes) == (1024, classes, classes)
    assert list(head.in_channels) == [1024] * 4 and aux.in_channels == 1024
    assert tuple(cfg.model.inference.crop_size) == (crop, crop)
    assert tuple(cfg.model.inference.stride) == (stride, stride)
    augs = cfg.dataloader.train.mapper.augmentations
    assert augs.crop_size == crop and cfg.dataloader.train.mapper.num_classes == classes
    assert augs.get("scale") == scale
    assert cfg.dataloader.test.dataset.names == test_set
    assert (cfg.optimizer.lr, cfg.optimizer.weight_decay) == (2e-5, 0.05)
    assert cfg.optimizer.params.layer_decay_rate == 0.9
    assert cfg.optimizer.params.num_layers == 24
    assert cfg.train.max_iter == iters and not cfg.train.amp.enabled
    assert cfg.train.eval_period == (16000 if iters == 160000 else 8000)
    assert cfg.lr_multiplier.warmup_length == 1500 / iters


@pytest.mark.parametrize("name", sorted(BEIT_CARDS))
def test_beit_adapter_card_parameter_count(name):
    cfg = _load(f"{name}.py")
    with torch.device("meta"):
        model = instantiate(cfg.model)
    assert isinstance(model.backbone.vit, BEiT)
    assert model.backbone.vit.blocks[0].attn.grid == (BEIT_CARDS[name][0] // 16,) * 2
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    assert abs(millions - BEIT_CARDS[name][-1]) < 0.01 * BEIT_CARDS[name][-1] + 0.5, millions


def test_beit_adapter_card_trains_and_slides_when_shrunk():
    """The real card, narrowed: small batches pad up to the fixed rel-pos grid, slide windows
    keep it, and the losses reach every part."""
    cfg = _load("ade20k/upernet_beit_adapter_large_640_160k_ade20k.py")
    vit = cfg.model.backbone.vit
    vit.update(img_size=64, embed_dim=32, depth=4, num_heads=2, use_act_checkpoint=False)
    cfg.model.backbone.update(
        interaction_indexes=[[0, 0], [1, 1], [2, 2], [3, 3]],
        deform_num_heads=2,
        with_cp=False,
        norm="BN",
    )
    cfg.model.decode_head.update(in_channels=[32] * 4, channels=16, num_classes=5, norm="BN")
    cfg.model.auxiliary_head.update(in_channels=32, channels=8, norm="BN")
    cfg.model.inference.update(crop_size=(64, 64), stride=(43, 43))
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    batch = [
        {"image": torch.rand(3, 48, 64) * 255, "sem_seg": torch.randint(0, 5, (48, 64))},
        {"image": torch.rand(3, 64, 40) * 255, "sem_seg": torch.randint(0, 5, (64, 40))},
    ]
    losses = model(batch)
    assert set(losses) == {"loss_sem_seg", "loss_aux"}
    sum(losses.values()).backward()
    table = model.backbone.vit.blocks[0].attn.relative_position_bias_table
    assert table.grad is not None and table.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        out = model([{"image": torch.rand(3, 64, 96) * 255, "height": 64, "width": 96}])
    assert out[0]["sem_seg"].shape == (5, 64, 96)


# BEiT-L adapter + Mask2Former cards: (crop, classes, queries, iterations, stride, test set,
# with_cp, #Param M)
M2F_CARDS = {
    "ade20k/mask2former_beit_adapter_large_640_160k_ade20k_ss": (
        640,
        150,
        100,
        160000,
        426,
        "ade20k_sem_seg_val",
        False,
        568,
    ),
    "ade20k/mask2former_beit_adapter_large_896_80k_ade20k_ss": (
        896,
        150,
        200,
        80000,
        512,
        "ade20k_sem_seg_val",
        True,
        571,
    ),
    "coco_stuff164k/mask2former_beit_adapter_large_896_80k_cocostuff164k_ss": (
        896,
        171,
        200,
        80000,
        512,
        "coco_2017_val_stuff_sem_seg",
        True,
        571,
    ),
    "coco_stuff10k/mask2former_beit_adapter_large_512_40k_cocostuff10k_ss": (
        512,
        171,
        100,
        40000,
        341,
        "coco_stuff_10k_sem_seg_test",
        True,
        568,
    ),
    "pascal_context/mask2former_beit_adapter_large_480_40k_pascal_context_59_ss": (
        480,
        59,
        100,
        40000,
        320,
        "pascal_context_59_sem_seg_val",
        False,
        568,
    ),
    "cityscapes/mask2former_beit_adapter_large_896_80k_cityscapes_ss": (
        896,
        19,
        100,
        80000,
        512,
        "cityscapes_fine_sem_seg_val",
        True,
        571,
    ),
}

# ViT-Adapter-B (BEiT-B) + Mask2Former: (crop, classes, stride, test set, test scale)
M2F_BASE_CARDS = {
    "coco_stuff10k/mask2former_beit_adapter_base_512_40k_cocostuff10k_ss": (
        512,
        171,
        341,
        "coco_stuff_10k_sem_seg_test",
        None,
    ),
    "pascal_context/mask2former_beit_adapter_base_480_40k_pascal_context_59_ss": (
        480,
        59,
        320,
        "pascal_context_59_sem_seg_val",
        (4096, 520),
    ),
}


@pytest.mark.parametrize("name", sorted(M2F_CARDS))
def test_mask2former_adapter_card(name):
    crop, classes, queries, iters, stride, test_set, cp, params = M2F_CARDS[name]
    cfg = _load(f"{name}.py")
    vit, adapter = cfg.model.backbone.vit, cfg.model.backbone
    assert (vit.embed_dim, vit.depth, vit.img_size, vit.init_values) == (1024, 24, crop, 1e-6)
    assert vit.use_rel_pos_bias and not vit.use_abs_pos_emb and vit.drop_path_rate == 0.3
    assert adapter.init_values == 1e-6 and adapter.with_cp == cp == vit.use_act_checkpoint
    assert [list(s) for s in adapter.interaction_indexes] == SPANS24
    predictor = cfg.model.sem_seg_head.predictor
    assert (predictor.num_classes, predictor.num_queries, predictor.dec_layers) == (
        classes,
        queries,
        9,
    )
    assert (predictor.hidden_dim, predictor.nheads, predictor.dim_feedforward) == (1024, 32, 4096)
    decoder = cfg.model.sem_seg_head.pixel_decoder
    assert (decoder.transformer_nheads, decoder.transformer_enc_layers) == (32, 6)
    assert tuple(cfg.model.inference.stride) == (stride, stride)
    assert cfg.dataloader.train.mapper.augmentations.crop_size == crop
    assert cfg.dataloader.train.total_batch_size == (8 if "cityscapes" in name else 16)
    assert cfg.dataloader.test.dataset.names == test_set
    assert cfg.dataloader.train.mapper.num_classes == classes
    assert (cfg.optimizer.lr, cfg.optimizer.params.layer_decay_rate) == (2e-5, 0.9)
    assert len(cfg.optimizer.params.layer0_prefixes) == 5
    assert cfg.train.max_iter == iters and not cfg.train.amp.enabled
    assert cfg.lr_multiplier.warmup_length == 1500 / iters
    with torch.device("meta"):
        model = instantiate(cfg.model)
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    assert abs(millions - params) < 0.01 * params + 0.5, millions


@pytest.mark.parametrize("name", sorted(M2F_BASE_CARDS))
def test_mask2former_base_adapter_card(name):
    crop, classes, stride, test_set, test_scale = M2F_BASE_CARDS[name]
    cfg = _load(f"{name}.py")
    vit, adapter = cfg.model.backbone.vit, cfg.model.backbone
    assert (vit.embed_dim, vit.depth, vit.num_heads, vit.img_size) == (768, 12, 12, crop)
    assert vit.drop_path_rate == 0.2 and vit.use_rel_pos_bias and vit.init_values == 1e-6
    assert adapter.deform_num_heads == 12 and adapter.deform_ratio == 0.5
    assert [list(s) for s in adapter.interaction_indexes] == [[0, 2], [3, 5], [6, 8], [9, 11]]
    decoder = cfg.model.sem_seg_head.pixel_decoder
    assert (decoder.conv_dim, decoder.transformer_nheads) == (256, 8)
    assert decoder.transformer_dim_feedforward == 1024
    predictor = cfg.model.sem_seg_head.predictor
    assert (predictor.hidden_dim, predictor.nheads, predictor.dim_feedforward) == (256, 8, 2048)
    assert (predictor.num_classes, predictor.num_queries, predictor.dec_layers) == (
        classes,
        100,
        9,
    )
    assert tuple(cfg.model.inference.stride) == (stride, stride)
    assert cfg.dataloader.test.dataset.names == test_set
    assert cfg.dataloader.test.mapper.augmentations.get("scale") == (
        list(test_scale) if test_scale else None
    )
    assert (cfg.optimizer.lr, cfg.optimizer.params.layer_decay_rate) == (3e-5, 0.95)
    assert cfg.optimizer.params.num_layers == 12
    assert cfg.train.max_iter == 40000 and cfg.train.eval_period == 4000
    with torch.device("meta"):
        model = instantiate(cfg.model)
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    assert abs(millions - 120) < 1.5, millions
