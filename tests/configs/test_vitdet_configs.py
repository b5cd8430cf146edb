"""The EVA-02 model-card configs: effective values against the model card (spec table 4.3),
state-dict keys against the released checkpoints, and the training script end to end on the
tiny demo config (eval-only with a fork-style checkpoint and every README override, AMP bf16 +
two gloo processes + EMA resume, bad inputs, the demo's AP)."""

import glob
import json
import os
import re
import subprocess
import sys
from functools import partial

import pytest
import torch
from fvcore.common.param_scheduler import CosineParamScheduler, MultiStepParamScheduler

from det.config import LazyConfig, instantiate
from det.data.datasets.builtin import register_all_builtin
from det.modeling.backbone import get_vit_lr_decay_rate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = os.path.join(ROOT, "projects", "ViTDet", "configs")
# A copy of shared/spec/checkpoint_keys: every key and shape of seven released models.
KEYS = os.path.join(ROOT, "tests", "fixtures", "checkpoint_keys")
DEMO = os.path.join(CONFIGS, "demo", "eva2_tiny_cascade_synthetic.py")

_EVERY_THIRD = [2, 5, 8, 11, 14, 17, 20, 23]
# Spec section 4.3, one row per model card (columns as in the table), composed of the column
# groups the cards share: trunk and resolution, then the dataset recipe.
_B = dict(dim=768, depth=12, heads=12, dp=0.1, lrd=0.7)
_L = dict(dim=1024, depth=24, heads=16, dp=0.4, lrd=0.8)
_B_1024 = dict(img=1024, win=16, glb=[2, 5, 8, 11], ckpt=False, **_B)
_L_1024 = dict(img=1024, win=16, glb=[5, 11, 17, 23], ckpt=False, **_L)
_L_1536 = dict(img=1536, win=16, glb=_EVERY_THIRD, ckpt=False, **_L)
_L_1536_WIN32 = {**_L_1536, "win": 32, "ckpt": True}
_COCO = dict(classes=80, score=0.05, topk=100, ema=False, period=(500, 500), data="coco")
_LVIS = dict(classes=1203, score=0.02, topk=300, ema=False, period=(2500, 2500), data="lvis")
_COCO_60K = dict(
    lr=5e-5, batch=128, max_iter=60000, milestones=[48000, 54000], warmup=1000, **_COCO
)
_LVIS_50K = dict(
    lr=1e-4, batch=128, max_iter=50000, milestones=[40000, 45000], warmup=1000, **_LVIS
)
_LVIS_40K = {**_LVIS_50K, "max_iter": 40000, "milestones": [32000, 36000]}
_O365_TO_COCO = dict(
    **{**_L_1536, "ckpt": True, "dp": 0.3},
    lr=4e-5,
    batch=64,
    max_iter=40000,
    milestones=None,
    warmup=400,
    **{**_COCO, "ema": True},
)
EXPECTED = {
    "eva2_mim_to_coco/eva2_coco_cascade_mask_rcnn_vitdet_b_4attn_1024_lrd0p7": {
        **_B_1024,
        **_COCO_60K,
    },
    "eva2_mim_to_coco/eva2_coco_cascade_mask_rcnn_vitdet_b_6attn_win32_1536_lrd0p7": {
        **_B_1024,
        "img": 1536,
        "win": 32,
        "glb": [1, 3, 5, 7, 9, 11],
        **_COCO_60K,
    },
    "eva2_mim_to_coco/eva2_coco_cascade_mask_rcnn_vitdet_l_4attn_1024_lrd0p8": {
        **_L_1024,
        **_COCO_60K,
        "lr": 6e-5,
        "batch": 144,
    },
    "eva2_mim_to_coco/eva2_coco_cascade_mask_rcnn_vitdet_l_8attn_win32_1536_lrd0p8": {
        **_L_1536_WIN32,
        **_COCO_60K,
    },
    "eva2_mim_to_lvis/eva2_lvis_cascade_mask_rcnn_vitdet_b_4attn_1024_lrd0p7": {
        **_B_1024,
        **_LVIS_50K,
    },
    "eva2_mim_to_lvis/eva2_lvis_cascade_mask_rcnn_vitdet_l_4attn_1024_lrd0p8": {
        **_L_1024,
        **_LVIS_40K,
    },
    "eva2_mim_to_lvis/eva2_lvis_cascade_mask_rcnn_vitdet_l_8attn_win32_1536_lrd0p8": {
        **_L_1536_WIN32,
        **_LVIS_40K,
    },
    "eva2_o365/eva2_o365_cascade_mask_rcnn_vitdet_l_8attn_1536_lrd0p8": dict(
        **_L_1536,
        lr=6e-5,
        batch=160,
        max_iter=400000,
        milestones=[320000, 360000],
        warmup=5000,
        classes=365,
        score=0.05,
        topk=100,
        ema=False,
        period=(10000, 2500),
        data="o365",
    ),
    "eva2_o365_to_coco/eva2_o365_to_coco_cascade_mask_rcnn_vitdet_l_8attn_1536_lrd0p8": (
        _O365_TO_COCO
    ),
    "eva2_o365_to_lvis/eva2_o365_to_lvis_cascade_mask_rcnn_vitdet_l_8attn_1536_lrd0p8": {
        **_O365_TO_COCO,
        **_LVIS,
        "max_iter": 70000,
        "warmup": 700,
        "ema": True,
        "period": (5000, 5000),
    },
}
DATA = {
    "coco": (["coco_2017_train"], "coco_2017_val", "COCOEvaluator"),
    "lvis": (["lvis_v1_train"], "lvis_v1_val", "LVISEvaluator"),
    "o365": (["objects365_train", "objects365_val"], "objects365_val", "COCOEvaluator"),
}
# Spec checkpoint_keys/<name>.json -> config.
KEY_FILES = {os.path.basename(path)[: -len(".json")]: path for path in glob.glob(f"{KEYS}/*.json")}


def _load(name):
    return LazyConfig.load(os.path.join(CONFIGS, name + ".py"))


def test_every_model_card_config_is_listed():
    found = {
        os.path.relpath(p, CONFIGS)[: -len(".py")]
        for p in glob.glob(os.path.join(CONFIGS, "eva2_*", "*.py"))
        # The fork's sibling that its cards import (see test_d2_style_configs.py), not a card.
        if not p.endswith("cascade_mask_rcnn_vitdet_b_100ep.py")
    }
    assert found == set(EXPECTED)


def _names(value):
    return [value] if isinstance(value, str) else list(value)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_effective_values_match_the_model_card(name):
    e = EXPECTED[name]
    cfg = _load(name)
    net = cfg.model.backbone.net
    assert (net.img_size, net.patch_size, net.window_size) == (e["img"], 16, e["win"])
    assert (net.embed_dim, net.depth, net.num_heads) == (e["dim"], e["depth"], e["heads"])
    assert [i for i in range(net.depth) if i not in net.window_block_indexes] == e["glb"]
    assert net.mlp_ratio == pytest.approx(4 * 2 / 3)
    assert net.drop_path_rate == e["dp"] and net.use_act_checkpoint == e["ckpt"]
    assert cfg.model.backbone.square_pad == e["img"]
    assert cfg.dataloader.train.mapper.augmentations.image_size == e["img"]
    test_aug = instantiate(cfg.dataloader.test.mapper.augmentations)
    assert (test_aug[0].short_edge_length, test_aug[0].max_size) == ((e["img"], e["img"]), e["img"])

    # Optimizer: AdamW, weight decay 0.1 on everything, layer-wise lr decay.
    assert cfg.optimizer._target_ is torch.optim.AdamW
    assert (cfg.optimizer.lr, cfg.optimizer.weight_decay) == (e["lr"], 0.1)
    assert cfg.optimizer.params.weight_decay_norm is None and cfg.optimizer.params.overrides == {}
    lrf = instantiate(cfg.optimizer.params.lr_factor_func)
    assert isinstance(lrf, partial) and lrf.func is get_vit_lr_decay_rate
    assert lrf.keywords == {"num_layers": e["depth"], "lr_decay_rate": e["lrd"]}

    # Schedule.
    assert cfg.train.max_iter == e["max_iter"]
    sched = instantiate(cfg.lr_multiplier)
    assert cfg.lr_multiplier.warmup_factor == 0.001
    assert cfg.lr_multiplier.warmup_length * e["max_iter"] == pytest.approx(e["warmup"])
    if e["milestones"] is None:
        assert isinstance(sched._scheduler, CosineParamScheduler)
        assert sched(0.5) == sched(0.99) == 1.0  # constant after warm-up
    else:
        assert isinstance(sched._scheduler, MultiStepParamScheduler)
        assert list(cfg.lr_multiplier.scheduler.milestones) == e["milestones"]
        assert cfg.lr_multiplier.scheduler.num_updates == e["max_iter"]
        assert sched(0.5) == 1.0 and sched(0.99) == pytest.approx(0.01)

    # Data, heads, evaluation.
    train_names, test_name, evaluator = DATA[e["data"]]
    assert _names(cfg.dataloader.train.dataset.names) == train_names
    assert cfg.dataloader.test.dataset.names == test_name
    assert cfg.dataloader.evaluator._target_.__name__ == evaluator
    assert cfg.dataloader.train.total_batch_size == e["batch"]
    assert cfg.dataloader.train.mapper.image_format == "RGB"
    heads = cfg.model.roi_heads
    assert heads.num_classes == e["classes"] and heads._target_.__name__ == "CascadeROIHeads"
    assert [list(p.box2box_transform.weights) for p in heads.box_predictors] == [
        [10, 10, 5, 5],
        [20, 20, 10, 10],
        [30, 30, 15, 15],
    ]
    assert [m.thresholds for m in heads.proposal_matchers] == [[0.5], [0.6], [0.7]]
    for p in heads.box_predictors:
        assert (p.test_score_thresh, p.get("test_topk_per_image", 100)) == (e["score"], e["topk"])
        assert p.cls_agnostic_bbox_reg
        assert (
            p.get("use_sigmoid_ce", False) == p.get("use_fed_loss", False) == (e["data"] == "lvis")
        )
    if e["data"] == "lvis":
        assert cfg.dataloader.evaluator.max_dets_per_image == 300
        assert cfg.dataloader.train.sampler.repeat_factors.repeat_thresh == 0.001
    if e["data"] == "o365":
        assert heads.mask_head is None and heads.mask_pooler is None
        assert not cfg.dataloader.train.mapper.use_instance_mask
        assert not cfg.dataloader.train.mapper.recompute_boxes
    else:
        assert heads.mask_head.num_classes == e["classes"]
        assert cfg.dataloader.train.mapper.recompute_boxes

    # Training settings.
    assert cfg.train.amp.enabled and cfg.train.ddp.fp16_compression
    assert cfg.train.init_checkpoint == ""
    assert (cfg.train.eval_period, cfg.train.checkpointer.period) == e["period"]
    assert cfg.train.model_ema.enabled == e["ema"]
    if e["ema"]:
        assert cfg.train.model_ema.decay == 0.9999


@pytest.fixture(scope="module")
def lvis_metadata(tmp_path_factory):
    # The LVIS predictors read class_image_count of lvis_v1_train when they are built: the
    # shipped LVIS table provides it, so every card builds with an empty datasets root.
    root = str(tmp_path_factory.mktemp("datasets"))
    register_all_builtin(root)
    yield root
    assert not os.listdir(root)
    register_all_builtin()


def _key_file(name):
    base = os.path.basename(name)
    return KEY_FILES.get(base)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_full_size_keys_and_shapes(name, lvis_metadata):
    cfg = _load(name)
    with torch.device("meta"):
        model = instantiate(cfg.model)
    keys = {k: list(v.shape) for k, v in model.state_dict().items()}
    path = _key_file(name)
    if path is None:
        # No released key list for this card: it shares the layout of a listed one.
        assert any(k.startswith("roi_heads.box_predictor.2.") for k in keys)
        return
    with open(path) as f:
        expected = json.load(f)
    assert sorted(keys) == sorted(expected)
    assert keys == expected


def _shrink(cfg):
    """Tiny widths and depth, same structure (cascade stages, mask head or not, fed loss)."""
    cfg.model.backbone.net.update(
        img_size=64, embed_dim=32, depth=2, num_heads=2, window_size=2, window_block_indexes=[0]
    )
    cfg.model.backbone.out_channels = 16
    cfg.model.proposal_generator.head.in_channels = 16
    cfg.model.proposal_generator.update(pre_nms_topk=(20, 20), post_nms_topk=(10, 10))
    heads = cfg.model.roi_heads
    for head in heads.box_heads:
        head.update(conv_dims=[16], fc_dims=[32])
        head.input_shape.channels = 16
    for predictor in heads.box_predictors:
        predictor.input_shape.channels = 32
        predictor.test_topk_per_image = 5  # a class-specific 1203-way mask head is costly
    if heads.mask_head is not None:
        heads.mask_head.update(conv_dims=[16, 16])
        heads.mask_head.input_shape.channels = 16
    cfg.optimizer.params.lr_factor_func.num_layers = 2
    return cfg


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shrunk_config_instantiates(name, lvis_metadata):
    cfg = _shrink(_load(name))
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    lrs = {g["lr"] for g in optimizer.param_groups}
    assert max(lrs) == pytest.approx(cfg.optimizer.lr)
    assert min(lrs) == pytest.approx(cfg.optimizer.lr * EXPECTED[name]["lrd"] ** 3)
    assert all("weight_decay" not in g or g["weight_decay"] == 0.1 for g in optimizer.param_groups)
    assert model.backbone.padding_constraints["square_size"] == 64
    image = torch.randint(0, 256, (3, 64, 48), dtype=torch.uint8)
    with torch.no_grad():
        (out,) = model.eval()([{"image": image, "height": 32, "width": 24}])
    inst = out["instances"]
    assert inst.image_size == (32, 24)
    assert inst.has("pred_masks") == (EXPECTED[name]["data"] != "o365")
    assert len(inst) <= 5


# --------------------------------------------------------------------------- the script
TINY = [
    "train.device=cpu",
    "dataloader.test.num_workers=0",
    "dataloader.train.num_workers=0",
]


@pytest.fixture(scope="module")
def datasets_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("synthetic_datasets"))


def _run(args, root, timeout=900):
    env = dict(os.environ, DETECTRON2_DATASETS=root, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    cmd = [sys.executable, os.path.join(ROOT, "tools", "lazyconfig_train_net.py"), *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _copypaste(output):
    """{"bbox": {"AP": ..}, "segm": {...}} from the ``copypaste:`` lines."""
    lines = [
        line.split("copypaste: ", 1)[1] for line in output.splitlines() if "copypaste: " in line
    ]
    results = {}
    for i in range(0, len(lines) - 2, 3):
        task = lines[i].removeprefix("Task: ")
        results[task] = dict(zip(lines[i + 1].split(","), map(float, lines[i + 2].split(","))))
    return results


def _fork_style_checkpoint(path, with_ema):
    """Random weights with the fork's keys; ``ema_state`` (params + all buffers) if asked."""
    cfg = LazyConfig.load(DEMO)
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    data = {"model": model.state_dict(), "iteration": 399}
    if with_ema:
        ema = {n: p.detach() + 0.01 for n, p in model.named_parameters()}
        ema.update({n: b.detach().clone() for n, b in model.named_buffers()})
        assert "pixel_mean" in ema and "backbone.net.rope_glb.freqs_cos" in ema
        data["ema_state"] = ema
    torch.save(data, path)


EMA_EVAL = ["train.model_ema.enabled=True", "train.model_ema.use_ema_weights_for_eval_only=True"]
README_OVERRIDES = [
    "model.roi_heads.use_soft_nms=True",
    "model.roi_heads.class_wise=True",
    "model.roi_heads.method=linear",
    "model.roi_heads.iou_threshold=0.6",
    "model.roi_heads.override_score_thresh=0.0",
    "model.roi_heads.maskness_thresh=0.5",
    "model.backbone.net.xattn=False",
    *EMA_EVAL,
    "dataloader.evaluator.max_dets_per_image=1000",
]


def _eval_demo(ckpt, out_dir, overrides, root):
    """``--eval-only`` of the demo config with ``ckpt`` and extra command-line overrides."""
    args = [f"train.init_checkpoint={ckpt}", f"train.output_dir={out_dir}", *overrides]
    return _run(["--eval-only", "--config-file", DEMO, *TINY, *args], root)


@pytest.mark.slow
def test_eval_only_fork_checkpoint_with_readme_overrides(tmp_path, datasets_root):
    ckpt = str(tmp_path / "fork.pth")
    _fork_style_checkpoint(ckpt, with_ema=True)
    out_dir = str(tmp_path / "eval")
    result = _eval_demo(ckpt, out_dir, README_OVERRIDES, datasets_root)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "Run evaluation with EMA." in log
    assert "Loading ema_state" in log
    results = _copypaste(log)
    assert set(results) == {"bbox", "segm"}
    assert os.path.isfile(os.path.join(out_dir, "config.yaml"))

    # The same checkpoint without "ema_state" cannot be evaluated with EMA weights.
    _fork_style_checkpoint(ckpt, with_ema=False)
    result = _eval_demo(ckpt, out_dir, EMA_EVAL, datasets_root)
    assert result.returncode == 2, (result.stdout + result.stderr)[-3000:]
    assert "no 'ema_state' entry" in result.stderr


@pytest.mark.slow
def test_amp_bf16_two_processes_ema_and_resume(tmp_path, datasets_root):
    out_dir = str(tmp_path / "train")
    common = [
        "--config-file",
        DEMO,
        *TINY,
        f"train.output_dir={out_dir}",
        "train.amp.enabled=True",
        "train.amp.precision=bfloat16",
        "train.model_ema.enabled=True",
        "train.model_ema.device=",
        "train.model_ema.decay=0.9",
        "train.eval_period=0",
        "train.checkpointer.period=2",
        "train.log_period=1",
        "dataloader.train.total_batch_size=2",
        "dataloader.train.dataset.filter_empty=False",
        "dataloader.test.dataset.names=synthetic_coco_val",
        "lr_multiplier.scheduler.num_updates=400",
    ]
    two_processes = ["--num-gpus", "2", "--dist-url", "auto"]
    result = _run([*two_processes, *common, "train.max_iter=2"], datasets_root)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    first = torch.load(os.path.join(out_dir, "model_final.pth"), weights_only=False)
    assert first["iteration"] == 1 and first["ema_state"]
    assert "copypaste: Task: segm" in log
    with open(os.path.join(out_dir, "metrics.json")) as f:
        metrics = [json.loads(line) for line in f]
    assert any("total_loss" in m for m in metrics)

    # Resumed in one process: model, optimizer, iteration and the EMA average come back.
    result = _run(["--resume", *common, "train.max_iter=3"], datasets_root)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert re.search(r"Starting training from iteration 2", log)
    second = torch.load(os.path.join(out_dir, "model_final.pth"), weights_only=False)
    # One more EMA step from the resumed average: ema = 0.9 * ema + 0.1 * weight.
    name = "roi_heads.box_predictor.0.cls_score.weight"
    expected = 0.9 * first["ema_state"][name] + 0.1 * second["model"][name]
    assert torch.allclose(second["ema_state"][name], expected, atol=1e-6)


# The demo config trains 300 iterations (box / mask AP 85.4 / 72.0 measured). The test runs
# the first half of that schedule (steps at 120 and 140): measured 46.0 / 47.6 box / mask AP
# (50.3 / 41.5 at 120 iterations); asserted with a wide margin, chance being ~0 AP.
DEMO_TEST_SCHEDULE = [
    "train.max_iter=150",
    "lr_multiplier.scheduler.milestones=[120,140]",
    "lr_multiplier.warmup_length=0.05",
    "dataloader.train.num_workers=0",
]
DEMO_MIN_BOX_AP = 25.0
DEMO_MIN_MASK_AP = 25.0


@pytest.mark.slow
def test_demo_trains_far_above_chance(tmp_path, datasets_root):
    result = _run(
        ["--config-file", DEMO, f"train.output_dir={tmp_path}", *DEMO_TEST_SCHEDULE],
        datasets_root,
        timeout=1800,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    results = _copypaste(log)
    assert results["bbox"]["AP"] > DEMO_MIN_BOX_AP, results
    assert results["segm"]["AP"] > DEMO_MIN_MASK_AP, results
    with open(os.path.join(tmp_path, "metrics.json")) as f:
        losses = [json.loads(line)["total_loss"] for line in f if "total_loss" in line]
    assert losses[-1] < losses[0]  # the loss curve goes down
    # The evaluator writes its predictions under <output_dir>/inference by default.
    with open(os.path.join(tmp_path, "inference", "coco_instances_results.json")) as f:
        predictions = json.load(f)
    assert predictions and {"image_id", "category_id", "bbox", "score"} <= set(predictions[0])


# ------------------------------------------------------------------------------ bad inputs
@pytest.fixture(scope="module")
def bad_input_dataset(tmp_path_factory):
    """Small images (48 x 40, far below the 192 crop): one with only crowd annotations, one
    without annotations, the rest normal."""
    from det.data.catalog import DatasetCatalog, MetadataCatalog
    from det.data.datasets.coco import register_coco_instances
    from det.data.datasets.synthetic import DEMO_CATEGORIES, write_synthetic_coco

    root = str(tmp_path_factory.mktemp("bad_inputs"))
    path = write_synthetic_coco(
        root, "train2017", num_images=5, image_size=(48, 40), categories=DEMO_CATEGORIES
    )
    with open(path) as f:
        data = json.load(f)
    images = [img["id"] for img in data["images"]]
    for anno in data["annotations"]:
        if anno["image_id"] == images[0]:
            anno["iscrowd"] = 1
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] != images[1]]
    assert any(a["image_id"] == images[0] for a in data["annotations"])
    with open(path, "w") as f:
        json.dump(data, f)
    name = "_test_vitdet_bad_inputs"
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)
    register_coco_instances(name, {}, path, os.path.join(root, "coco", "train2017"))
    yield name
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def _demo_trainer(dataset_name, **roi_heads):
    from det.engine import SimpleTrainer

    cfg = LazyConfig.load(DEMO)
    cfg.dataloader.train.dataset.update(names=dataset_name, filter_empty=False)
    cfg.dataloader.train.update(total_batch_size=2, num_workers=0)
    # Scale jitter of at most 0.5: every training image stays smaller than the crop.
    cfg.dataloader.train.mapper.augmentations.max_scale = 0.5
    cfg.model.roi_heads.update(roi_heads)
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    cfg.optimizer.params.model = model
    return SimpleTrainer(model, instantiate(cfg.dataloader.train), instantiate(cfg.optimizer))


def test_training_survives_crowd_only_empty_and_small_images(bad_input_dataset):
    trainer = _demo_trainer(bad_input_dataset)
    seen = []
    model_forward = trainer.model.forward

    def spy(batch):
        seen.extend((tuple(x["image"].shape[-2:]), len(x["instances"])) for x in batch)
        return model_forward(batch)

    trainer.model.forward = spy
    trainer.train(0, 5)
    assert all(h < 192 and w < 192 for (h, w), _ in seen)
    assert any(n == 0 for _, n in seen)  # images without (non-crowd) objects were trained on
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_num_classes_smaller_than_the_dataset_is_a_clear_error(bad_input_dataset):
    from det.modeling.roi_heads import NumClassesMismatchError

    trainer = _demo_trainer(bad_input_dataset, num_classes=1)
    with pytest.raises(NumClassesMismatchError, match="num_classes=1"):
        trainer.train(0, 10)


@pytest.mark.parametrize(
    "name, backbone_key",
    [
        ("mask_rcnn_vitdet", "backbone.net.blocks.0.mlp.ffn_ln.weight"),  # EVA-02 SwiGLU
        ("cascade_mask_rcnn_vitdet", "backbone.net.blocks.0.attn.q_bias"),
        ("mask_rcnn_vitdet_mae", "backbone.net.blocks.0.attn.rel_pos_h"),  # ViTDet rel-pos
    ],
)
def test_common_model_configs(name, backbone_key):
    cfg = LazyConfig.load(os.path.join(ROOT, "configs", "common", "models", f"{name}.py"))
    with torch.device("meta"):
        model = instantiate(cfg.model)
    keys = model.state_dict()
    assert backbone_key in keys
    assert keys["roi_heads.mask_head.predictor.weight"].shape == (80, 256, 1, 1)
    cascade = name.startswith("cascade")
    assert ("roi_heads.box_predictor.2.bbox_pred.weight" in keys) == cascade
    if not cascade:
        assert keys["roi_heads.box_predictor.bbox_pred.weight"].shape == (320, 1024)
