"""Every Mask2Former config: effective values against the spec, instantiation (shrunk), the
COCO-Stuff -> ADE20K fine-tuning load, and the CPU demo end to end."""

import glob
import os
import re
import subprocess
import sys

import pytest
import torch

from det.checkpoint import DetectionCheckpointer
from det.config import LazyConfig, instantiate
from det.modeling.mask2former import MultiScaleFlipInference, SlidingWindowInference
from det.modeling.meta_arch import MaskFormer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG_DIR = os.path.join(ROOT, "projects", "Mask2Former", "configs")
RECIPES = sorted(
    os.path.relpath(p, CONFIG_DIR) for p in glob.glob(os.path.join(CONFIG_DIR, "*", "eva02_*.py"))
)
DEMO = "demo/maskformer_tiny_synthetic_ade20k.py"


def _load(name):
    return LazyConfig.load(os.path.join(CONFIG_DIR, name))


def test_every_config_is_covered():
    all_configs = sorted(
        os.path.relpath(p, CONFIG_DIR) for p in glob.glob(os.path.join(CONFIG_DIR, "*", "*.py"))
    )
    assert all_configs == sorted(RECIPES + [DEMO, "common/maskformer_eva02.py"])
    assert len(RECIPES) == 6


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_values(name):
    cfg = _load(name)
    ade = name.startswith("ade20k/")
    large = "eva02_l" in name
    net = cfg.model.backbone.net
    # Backbone: EVA-02 B / L at 896, 16 x 16 windows, p2-p5.
    assert (net.img_size, net.patch_size, net.window_size) == (896, 16, 16)
    dims = (1024, 24, 16) if large else (768, 12, 12)
    assert (net.embed_dim, net.depth, net.num_heads) == dims
    glob_blocks = (5, 11, 17, 23) if large else (2, 5, 8, 11)
    assert sorted(set(range(net.depth)) - set(net.window_block_indexes)) == list(glob_blocks)
    assert net.drop_path_rate == (0.2 if large else 0.15)
    assert net.use_act_checkpoint == large
    assert tuple(cfg.model.backbone.scale_factors) == (4.0, 2.0, 1.0, 0.5)
    assert cfg.model.backbone.top_block is None
    # Head (EVA-01's): 1024 wide, 32 heads, FFN 4096, 6 encoder layers, 200 queries, 9 layers.
    pixel = cfg.model.sem_seg_head.pixel_decoder
    assert (pixel.conv_dim, pixel.mask_dim, pixel.transformer_nheads) == (1024, 1024, 32)
    assert (pixel.transformer_dim_feedforward, pixel.transformer_enc_layers) == (4096, 6)
    assert list(pixel.transformer_in_features) == ["p3", "p4", "p5"]
    assert pixel.common_stride == 4 and pixel.transformer_n_points == 4
    pred = cfg.model.sem_seg_head.predictor
    assert (pred.num_queries, pred.dec_layers, pred.hidden_dim, pred.nheads) == (200, 9, 1024, 32)
    assert pred.dim_feedforward == 4096
    assert pred.num_classes == (150 if ade else 171)
    # Losses and matching.
    crit = cfg.model.criterion
    assert dict(crit.weight_dict) == {"loss_ce": 2.0, "loss_mask": 5.0, "loss_dice": 5.0}
    assert (crit.eos_coef, crit.num_points, crit.oversample_ratio) == (0.1, 12544, 3.0)
    assert crit.importance_sample_ratio == 0.75
    m = cfg.model.criterion.matcher
    assert (m.cost_class, m.cost_mask, m.cost_dice, m.num_points) == (2.0, 5.0, 5.0, 12544)
    assert list(cfg.model.pixel_mean) == [123.675, 116.28, 103.53]
    # Inference: slide 896 / 512; ms adds 7 scales x flip with PadShortSide 896.
    inference = instantiate(cfg.model.inference)
    if name.endswith("_ms.py"):
        assert isinstance(inference, MultiScaleFlipInference)
        assert inference.scale == (3584, 896) and inference.flip and inference.pad_short_side == 896
        assert [round(r * 896) for r in inference.ratios] == [512, 640, 768, 896, 1024, 1152, 1280]
        assert list(cfg.dataloader.test.mapper.augmentations) == []
        slide = inference.base
    else:
        slide = inference
        assert cfg.dataloader.test.mapper.augmentations.crop_size == 896
    assert isinstance(slide, SlidingWindowInference)
    assert (slide.crop_size, slide.stride) == ((896, 896), (512, 512))
    # Data.
    train_loader = cfg.dataloader.train
    assert train_loader.total_batch_size == 32
    assert train_loader.mapper.augmentations.crop_size == 896
    assert train_loader.mapper.augmentations.cat_max_ratio == 0.75
    assert train_loader.mapper.num_classes == pred.num_classes
    want_names = (
        ("ade20k_sem_seg_train", "ade20k_sem_seg_val")
        if ade
        else ("coco_2017_train_stuff_sem_seg", "coco_2017_val_stuff_sem_seg")
    )
    assert (train_loader.dataset.names, cfg.dataloader.test.dataset.names) == want_names
    # Optimization: AdamW 1e-5, wd 0.05, poly with 1500 warm-up iterations from 1e-6, fp32.
    opt = cfg.optimizer
    assert (opt.lr, opt.weight_decay, tuple(opt.betas)) == (1e-5, 0.05, (0.9, 0.999))
    assert opt.params.weight_decay_norm == 0.0 and opt.params.weight_decay_bias == 0.0
    assert cfg.train.max_iter == (40000 if ade else 80000)
    assert round(cfg.lr_multiplier.warmup_length * cfg.train.max_iter) == 1500
    assert cfg.lr_multiplier.warmup_factor == 1e-6
    sched = instantiate(cfg.lr_multiplier)
    assert sched(0.5) == pytest.approx(0.5) and sched(0.9) == pytest.approx(0.1)
    assert not cfg.train.amp.enabled and not cfg.train.clip_grad.enabled
    # Layer decay: EVA's rule, decay 0.9 (ADE) / 0.95 (COCO-Stuff) over the ViT's blocks.
    decay, n = (0.9 if ade else 0.95), net.depth
    f = instantiate(cfg.optimizer.params.lr_factor_func)
    assert f("backbone.net.blocks.0.attn.q_bias") == pytest.approx(decay**n)
    assert f(f"backbone.net.blocks.{n - 1}.mlp.w1.weight") == pytest.approx(decay)
    assert f("backbone.net.patch_embed.proj.weight") == pytest.approx(decay ** (n + 1))
    assert f("sem_seg_head.predictor.class_embed.weight") == pytest.approx(decay ** (n + 1))
    assert f("sem_seg_head.predictor.query_feat.weight") == pytest.approx(decay ** (n + 1))
    assert f("sem_seg_head.predictor.transformer_ffn_layers.0.linear1.weight") == 1.0
    assert f("sem_seg_head.pixel_decoder.transformer.level_embed") == 1.0


def _shrink(cfg):
    net = cfg.model.backbone.net
    net.img_size, net.embed_dim, net.depth, net.num_heads = 64, 32, 2, 2
    net.window_size, net.window_block_indexes = 0, []
    cfg.model.backbone.out_channels = 32
    pixel = cfg.model.sem_seg_head.pixel_decoder
    pixel.conv_dim = pixel.mask_dim = 32
    pixel.transformer_nheads, pixel.transformer_dim_feedforward = 2, 32
    pixel.transformer_enc_layers = 1
    pred = cfg.model.sem_seg_head.predictor
    pred.hidden_dim, pred.nheads, pred.dim_feedforward = 32, 2, 32
    pred.num_queries, pred.dec_layers = 4, 2
    cfg.model.criterion.num_points = 64
    slide = cfg.model.inference.get("base", cfg.model.inference)
    slide.stride = (32, 32)  # windows follow img_size (64)
    return cfg


@pytest.mark.parametrize("name", RECIPES + [DEMO])
def test_config_instantiates_shrunk(name):
    cfg = _shrink(_load(name))
    model = instantiate(cfg.model)
    assert isinstance(model, MaskFormer)
    assert model.backbone.padding_constraints["square_size"] == 64
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    assert isinstance(optimizer, torch.optim.AdamW)
    lrs = {p: g["lr"] for g in optimizer.param_groups for p in g["params"]}
    wds = {p: g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    head = model.sem_seg_head.predictor
    assert lrs[head.transformer_ffn_layers[0].linear1.weight] == pytest.approx(cfg.optimizer.lr)
    assert wds[model.backbone.net.blocks[0].attn.q_bias] == 0.0
    assert wds[head.transformer_ffn_layers[0].linear1.bias] == 0.0
    assert wds[head.transformer_ffn_layers[0].linear1.weight] == cfg.optimizer.weight_decay
    model.eval()
    with torch.no_grad():
        if isinstance(model.inference, MultiScaleFlipInference):
            # One copy through the multi-scale path keeps the test fast.
            model.inference.ratios = (1.0,)
            model.inference.scale = (256, 64)
            model.inference.pad_short_side = 64
        out = model(
            [{"image": torch.zeros(3, 48, 80, dtype=torch.uint8), "height": 24, "width": 40}]
        )
    assert out[0]["sem_seg"].shape == (cfg.model.sem_seg_head.predictor.num_classes, 24, 40)


def test_coco_stuff_checkpoint_loads_into_ade20k_without_the_class_head(tmp_path):
    coco = _shrink(_load("coco_stuff164k/eva02_b_mask2former_896_80k_cocostuff164k_ss.py"))
    ade = _shrink(_load("ade20k/eva02_b_mask2former_896_40k_coco164k2ade20k_ss.py"))
    torch.manual_seed(0)
    coco_model = instantiate(coco.model)
    torch.manual_seed(1)
    ade_model = instantiate(ade.model)
    path = str(tmp_path / "model_final.pth")
    torch.save({"model": coco_model.state_dict(), "iteration": 79999}, path)
    fresh_head = ade_model.sem_seg_head.predictor.class_embed.weight.detach().clone()

    checkpointer = DetectionCheckpointer(ade_model)
    checkpointer.load(path, checkpointables=[])
    report = checkpointer.load_report
    skipped = {key for key, _, _ in report.incorrect_shapes}
    assert skipped == {
        "sem_seg_head.predictor.class_embed.weight",
        "sem_seg_head.predictor.class_embed.bias",
    }
    assert not report.missing_keys or set(report.missing_keys) <= skipped
    assert not report.unexpected_keys
    torch.testing.assert_close(ade_model.sem_seg_head.predictor.class_embed.weight, fresh_head)
    coco_sd, ade_sd = coco_model.state_dict(), ade_model.state_dict()
    for key, value in ade_sd.items():
        if key not in skipped:
            torch.testing.assert_close(value, coco_sd[key], msg=key)


@pytest.mark.slow
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
    assert "copypaste: Task: sem_seg" in log
    assert "copypaste: mIoU,fwIoU,mACC,pACC" in log
    numbers = re.findall(r"copypaste: ([\d.]+),([\d.]+),([\d.]+),([\d.]+)", log)
    miou = float(numbers[-1][0])
    # Chance is about 1/6 pixel accuracy (6 classes, ~10 mIoU); the 300-iteration demo measured
    # 90.6 mIoU (seed 0, one thread).
    assert miou > 70.0, log[-3000:]
    summary = re.search(r"\|\s*aAcc\s*\|\s*mIoU\s*\|\s*mAcc\s*\|\n\+[-+]+\+\n\|([^\n]+)\|", log)
    assert summary is not None, log[-3000:]
    assert os.path.isfile(tmp_path / "out" / "model_final.pth")
