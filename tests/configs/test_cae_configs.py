"""CAE + UperNet model cards: the values in CAE's config names, the pre-trained file's load plan
onto the card, optimizer groups, and a narrowed card training and sliding on CPU."""

import glob
import json
import os

import pytest
import torch

from det.checkpoint.beit_pretrained import maybe_convert_beit
from det.config import LazyConfig, instantiate
from det.modeling.backbone import BEiT, FourScaleNeck

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG_DIR = os.path.join(ROOT, "projects", "CAE", "configs")
KEYS = os.path.join(ROOT, "tests", "fixtures", "pretrained_keys")

# card: (width, depth, neck blocks, drop path, lr, layer decay, fixture)
CARDS = {
    "upernet_cae_base_12_512_slide_160k_ade20k_pt300ep_3e-4": (
        768,
        12,
        [3, 5, 7, 11],
        0.1,
        3e-4,
        0.65,
        "cae_base_1600ep",
    ),
    "upernet_cae_base_12_512_slide_160k_ade20k_pt800ep_2e-4": (
        768,
        12,
        [3, 5, 7, 11],
        0.1,
        2e-4,
        0.65,
        "cae_base_1600ep",
    ),
    "upernet_cae_base_12_512_slide_160k_ade20k_pt1600ep_1e-4": (
        768,
        12,
        [3, 5, 7, 11],
        0.1,
        1e-4,
        0.65,
        "cae_base_1600ep",
    ),
    "upernet_cae_large_24_512_slide_160k_ade20k_pt1600ep_decay095_4e-5_dp015": (
        1024,
        24,
        [7, 11, 15, 23],
        0.15,
        4e-5,
        0.95,
        "cae_large_1600ep",
    ),
}


def _load(name):
    return LazyConfig.load(os.path.join(CONFIG_DIR, "ade20k", f"{name}.py"))


def test_every_config_is_covered():
    found = sorted(
        os.path.relpath(p, CONFIG_DIR)[:-3]
        for p in glob.glob(os.path.join(CONFIG_DIR, "*", "*.py"))
    )
    assert found == sorted([f"ade20k/{n}" for n in CARDS] + ["common/upernet_cae"])


@pytest.mark.parametrize("name", sorted(CARDS))
def test_card_values_and_load_plan(name):
    width, depth, blocks, dp, lr, ld, fixture = CARDS[name]
    cfg = _load(name)
    net = cfg.model.backbone.net
    assert (net.embed_dim, net.depth, list(net.out_indices)) == (width, depth, blocks)
    assert list(cfg.model.backbone.in_features) == [f"b{i}" for i in blocks]
    assert net.drop_path_rate == dp and net.init_values == 0.1 and net.img_size == 512
    assert net.use_rel_pos_bias and net.use_abs_pos_emb
    assert cfg.model.decode_head.channels == width
    assert list(cfg.model.decode_head.in_channels) == [width] * 4
    assert (cfg.optimizer.lr, cfg.optimizer.params.layer_decay_rate) == (lr, ld)
    assert cfg.optimizer.params.vit_prefix == "backbone.net."
    assert cfg.train.max_iter == 160000 and cfg.dataloader.train.total_batch_size == 16

    with torch.device("meta"):
        model = instantiate(cfg.model)
    assert isinstance(model.backbone, FourScaleNeck) and isinstance(model.backbone.net, BEiT)
    with open(os.path.join(KEYS, f"{fixture}.json")) as f:
        ckpt = {k: torch.empty(v, device="meta") for k, v in json.load(f).items()}
    state, report = maybe_convert_beit({"model": ckpt}, model)
    assert report.target == "backbone.net"
    assert state["backbone.net.pos_embed"].shape == (1, 1 + 32 * 32, width)
    fresh_net = [k for k in report.fresh if k.startswith("backbone.net.")]
    assert len(fresh_net) == depth  # the per-block tables, learned from scratch
    assert "regresser.norm.weight" in report.dropped and "decoder.head.weight" in report.dropped
    assert any(k.startswith("alignment_encoder.") for k in report.dropped)


def test_narrowed_card_trains_and_slides():
    cfg = _load("upernet_cae_base_12_512_slide_160k_ade20k_pt1600ep_1e-4")
    cfg.model.backbone.net.update(img_size=64, embed_dim=32, depth=4, num_heads=2)
    cfg.model.backbone.net.out_indices = [0, 1, 2, 3]
    cfg.model.backbone.in_features = ["b0", "b1", "b2", "b3"]
    cfg.model.backbone.norm = "BN"
    cfg.model.decode_head.update(in_channels=[32] * 4, channels=16, num_classes=5, norm="BN")
    cfg.model.auxiliary_head.update(in_channels=32, channels=8, norm="BN")
    cfg.model.inference.update(crop_size=(64, 64), stride=(43, 43))
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    cfg.optimizer.params.model = model
    groups = instantiate(cfg.optimizer.params)
    assert {round(g["lr"] / 1e-4, 6) for g in groups} == {round(0.65**k, 6) for k in range(6)}
    batch = [
        {"image": torch.rand(3, 64, 56) * 255, "sem_seg": torch.randint(0, 5, (64, 56))}
        for _ in range(2)  # BatchNorm after the 1 x 1 pool needs two images
    ]
    losses = model(batch)
    sum(losses.values()).backward()
    assert model.backbone.net.blocks[0].attn.relative_position_bias_table.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        out = model([{"image": torch.rand(3, 80, 64) * 255, "height": 80, "width": 64}])
    assert out[0]["sem_seg"].shape == (5, 80, 64)
