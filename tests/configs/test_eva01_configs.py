"""EVA-01 (ViT-g + ViT-Adapter + Mask2Former) model cards: values against the released configs
(spec ``mask2former_semseg.md`` Sec. 3.2), module shapes against the released logs' init dump
(Sec. 2.2), mmseg layer-decay groups (Sec. 5.3), the pre-trained file's load plan, and a
narrowed card training and sliding on CPU."""

import glob
import json
import os

import pytest
import torch

from det.checkpoint.beit_pretrained import maybe_convert_beit
from det.config import LazyConfig, instantiate
from det.modeling.backbone import BEiT, ViTAdapter
from det.modeling.mask2former import MultiScaleFlipInference, SlidingWindowInference
from det.structures import Instances

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG_DIR = os.path.join(ROOT, "projects", "EVA01", "configs")
KEYS = os.path.join(ROOT, "tests", "fixtures", "pretrained_keys", "eva_psz14to16.json")

# card: (classes, iterations, batch, lr, layer decay, warm-up, rel pos + layer scale,
#        decoder layers, multi-scale test)
CARDS = {
    "coco_stuff164k/eva01_mask2former_896_60k_cocostuff164k_ss": (
        171,
        60000,
        32,
        1.5e-5,
        0.95,
        1500,
        False,
        8,
        False,
    ),
    "coco_stuff164k/eva01_mask2former_896_80k_cocostuff164k_ss_relpos_layerscale_9dec": (
        171,
        80000,
        32,
        1e-5,
        0.95,
        1500,
        True,
        9,
        False,
    ),
    "ade20k/eva01_mask2former_896_20k_coco164k2ade20k_ss": (
        150,
        20000,
        64,
        2.5e-5,
        0.95,
        500,
        False,
        8,
        False,
    ),
    "ade20k/eva01_mask2former_896_20k_coco164k2ade20k_ms": (
        150,
        20000,
        64,
        2.5e-5,
        0.95,
        500,
        False,
        8,
        True,
    ),
    "ade20k/eva01_mask2former_896_40k_coco164k2ade20k_ss_relpos_layerscale_9dec": (
        150,
        40000,
        32,
        1e-5,
        0.9,
        1500,
        True,
        9,
        False,
    ),
    "ade20k/eva01_mask2former_896_40k_coco164k2ade20k_ms_relpos_layerscale_9dec": (
        150,
        40000,
        32,
        1e-5,
        0.9,
        1500,
        True,
        9,
        True,
    ),
}


def _load(name):
    return LazyConfig.load(os.path.join(CONFIG_DIR, f"{name}.py"))


def _meta_model(cfg):
    with torch.device("meta"):
        return instantiate(cfg.model)


def test_every_config_is_covered():
    found = sorted(
        os.path.relpath(p, CONFIG_DIR)[:-3]
        for p in glob.glob(os.path.join(CONFIG_DIR, "*", "*.py"))
    )
    assert found == sorted([*CARDS, "common/mask2former_eva01_adapter"])


@pytest.mark.parametrize("name", sorted(CARDS))
def test_card_values(name):
    classes, iters, batch, lr, ld, warmup, relpos, dec, ms = CARDS[name]
    cfg = _load(name)
    vit, adapter = cfg.model.backbone.vit, cfg.model.backbone
    assert (vit.embed_dim, vit.depth, vit.num_heads, vit.img_size) == (1408, 40, 16, 896)
    assert vit.mlp_ratio * 1408 == 6144 and vit.drop_path_rate == 0.5
    assert vit.use_abs_pos_emb and not vit.interpolate_pos_embed and not vit.cls_pos_embed
    assert vit.use_rel_pos_bias == relpos and vit.init_values == (1.0 if relpos else None)
    assert [list(s) for s in adapter.interaction_indexes] == [[0, 9], [10, 19], [20, 29], [30, 39]]
    assert adapter.init_values == 0.0 and adapter.drop_path_rate == 0.5
    assert adapter.with_cp and vit.use_act_checkpoint
    predictor = cfg.model.sem_seg_head.predictor
    assert (predictor.num_classes, predictor.num_queries, predictor.dec_layers) == (
        classes,
        200,
        dec,
    )
    assert cfg.dataloader.train.mapper.augmentations.crop_size == 896
    assert cfg.dataloader.train.mapper.num_classes == classes
    assert cfg.dataloader.train.total_batch_size == batch
    assert (cfg.optimizer.lr, cfg.optimizer.weight_decay) == (lr, 0.05)
    assert cfg.optimizer.params.layer_decay_rate == ld
    assert cfg.train.max_iter == iters and not cfg.train.amp.enabled
    assert cfg.lr_multiplier.warmup_length == warmup / iters
    inference = cfg.model.inference
    if ms:
        assert inference.pad_short_side == 896 and inference.flip and len(inference.ratios) == 7
        assert list(cfg.dataloader.test.mapper.augmentations) == []
    assert tuple((inference.base if ms else inference).stride) == (512, 512)


@pytest.mark.parametrize("relpos", [False, True])
def test_module_shapes_match_the_released_init_dump(relpos):
    name = [n for n, v in CARDS.items() if v[6] == relpos and not v[8]][0]
    model = _meta_model(_load(name))
    assert isinstance(model.backbone, ViTAdapter) and isinstance(model.backbone.vit, BEiT)
    state = model.state_dict()
    assert state["backbone.vit.pos_embed"].shape == (1, 3137, 1408)
    assert state["backbone.vit.patch_embed.proj.weight"].shape == (1408, 3, 16, 16)
    injector = "backbone.interactions.0.injector.attn."
    assert state[injector + "sampling_offsets.weight"].shape == (384, 1408)
    assert state[injector + "attention_weights.weight"].shape == (192, 1408)
    assert state[injector + "value_proj.weight"].shape == (704, 1408)
    assert state[injector + "output_proj.weight"].shape == (1408, 704)
    extractor = "backbone.interactions.3.extractor.attn."
    assert state[extractor + "sampling_offsets.weight"].shape == (128, 1408)
    assert state[extractor + "attention_weights.weight"].shape == (64, 1408)
    assert "backbone.interactions.3.extra_extractors.1.ffn.fc1.weight" in state
    assert state["backbone.interactions.0.extractor.ffn.fc1.weight"].shape == (352, 1408)
    table = "backbone.vit.blocks.0.attn.relative_position_bias_table"
    assert (table in state) == relpos and ("backbone.vit.blocks.0.gamma_1" in state) == relpos
    if relpos:
        assert state[table].shape == (12324, 16)
    vit_params = sum(p.numel() for p in model.backbone.vit.parameters())
    assert 1.0e9 < vit_params < 1.03e9  # "1.0B"


def test_layer_decay_groups_follow_mmseg():
    cfg = _load("coco_stuff164k/eva01_mask2former_896_60k_cocostuff164k_ss")
    model = _meta_model(cfg)
    cfg.optimizer.params.model = model
    groups = instantiate(cfg.optimizer.params)
    names = {id(p): n for n, p in model.named_parameters()}
    setting = {names[id(p)]: (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    assert len(setting) == len(names)
    base = 1.5e-5
    expect = {
        "sem_seg_head.predictor.query_feat.weight": (base * 0.95**41, 0.05),
        "sem_seg_head.predictor.class_embed.bias": (base * 0.95**41, 0.0),
        "backbone.vit.pos_embed": (base * 0.95**41, 0.05),
        "backbone.vit.blocks.0.attn.q_bias": (base * 0.95**40, 0.0),
        "backbone.vit.blocks.39.mlp.fc1.weight": (base * 0.95, 0.05),
        "backbone.spm.stem.0.weight": (base, 0.05),
        "backbone.level_embed": (base, 0.05),
        "sem_seg_head.pixel_decoder.input_proj.0.0.weight": (base, 0.05),
    }
    for name, (lr, wd) in expect.items():
        assert setting[name][0] == pytest.approx(lr, rel=1e-9), name
        assert setting[name][1] == wd, name


def test_pretrained_file_maps_onto_the_card():
    with open(KEYS) as f:
        shapes = json.load(f)
    ckpt = {k: torch.empty(v, device="meta") for k, v in shapes.items()}
    model = _meta_model(
        _load("ade20k/eva01_mask2former_896_40k_coco164k2ade20k_ss_relpos_layerscale_9dec")
    )
    state, report = maybe_convert_beit({"module": ckpt}, model)
    assert report.target == "backbone.vit"
    assert state["backbone.vit.pos_embed"].shape == (1, 3137, 1408)
    assert any("pos_embed: grid 14x14 -> 56x56" in note for note in report.converted)
    assert {"mask_token", "lm_head.weight", "norm.weight"} <= set(report.dropped)
    fresh_vit = [k for k in report.fresh if k.startswith("backbone.vit.")]
    assert len(fresh_vit) == 3 * 40  # per-block table, gamma_1, gamma_2: learned from scratch


def test_narrowed_card_trains_and_slides():
    cfg = _load("coco_stuff164k/eva01_mask2former_896_80k_cocostuff164k_ss_relpos_layerscale_9dec")
    cfg.model.backbone.vit.update(img_size=64, embed_dim=32, depth=4, num_heads=2)
    cfg.model.backbone.vit.mlp_ratio = 2.0
    cfg.model.backbone.update(
        interaction_indexes=[[0, 0], [1, 1], [2, 2], [3, 3]], deform_num_heads=2, norm="BN"
    )
    decoder = cfg.model.sem_seg_head.pixel_decoder
    for shape in decoder.input_shape.values():
        shape.channels = 32
    decoder.update(
        conv_dim=32,
        mask_dim=32,
        transformer_nheads=2,
        transformer_dim_feedforward=64,
        transformer_enc_layers=1,
    )
    cfg.model.sem_seg_head.predictor.update(
        hidden_dim=32, nheads=2, dim_feedforward=64, num_queries=8, dec_layers=2, num_classes=4
    )
    cfg.model.criterion.num_points = 256
    cfg.model.inference.update(crop_size=(64, 64), stride=(40, 40))
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    batch = []
    for h, w in [(64, 48), (40, 64)]:
        label = torch.randint(0, 4, (h, w))
        classes = label.unique()
        instances = Instances(
            (h, w), gt_classes=classes, gt_masks=label[None] == classes[:, None, None]
        )
        batch.append({"image": torch.rand(3, h, w) * 255, "instances": instances})
    losses = model(batch)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    gamma = model.backbone.vit.blocks[0].gamma_1
    assert gamma.grad is not None and gamma.grad.abs().sum() > 0
    model.eval()
    assert isinstance(model.inference, SlidingWindowInference)
    assert not isinstance(model.inference, MultiScaleFlipInference)
    with torch.no_grad():
        out = model([{"image": torch.rand(3, 64, 100) * 255, "height": 64, "width": 100}])
    assert out[0]["sem_seg"].shape == (4, 64, 100)
