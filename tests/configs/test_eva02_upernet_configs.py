"""EVA-02 + UperNet model cards (spec ``mask2former_semseg.md`` Sec. 3.3): values against the
published table, the multi-block ViT outputs, and a narrowed card training, sliding and running
the multi-scale test on CPU."""

import glob
import os

import pytest
import torch

from det.checkpoint import DetectionCheckpointer
from det.config import LazyConfig, instantiate
from det.modeling.backbone import FourScaleNeck, ViT
from det.modeling.mask2former import MultiScaleFlipInference

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG_DIR = os.path.join(ROOT, "projects", "EVA02", "configs")

# card: (width, depth, blocks, drop path, batch, iters, crop, UperNet channels, lr, LD, stride)
CARDS = {
    "upernet_eva02_base_12_512_slide_60k": (
        768,
        12,
        [3, 5, 7, 11],
        0.15,
        32,
        60000,
        512,
        768,
        6e-5,
        0.85,
        341,
    ),
    "upernet_eva02_large_24_512_slide_80k": (
        1024,
        24,
        [7, 11, 15, 23],
        0.2,
        16,
        80000,
        512,
        1024,
        4e-5,
        0.9,
        341,
    ),
    "upernet_eva02_large_24_512_slide_80k_ms_eval": (
        1024,
        24,
        [7, 11, 15, 23],
        0.2,
        16,
        80000,
        512,
        1024,
        4e-5,
        0.9,
        341,
    ),
    "upernetpro_eva02_large_24_640_slide_80k": (
        1024,
        24,
        [7, 11, 15, 23],
        0.2,
        16,
        80000,
        640,
        1536,
        4e-5,
        0.9,
        426,
    ),
}


def _load(name):
    return LazyConfig.load(os.path.join(CONFIG_DIR, "ade20k", f"{name}.py"))


def test_every_config_is_covered():
    found = sorted(
        os.path.relpath(p, CONFIG_DIR)[:-3]
        for p in glob.glob(os.path.join(CONFIG_DIR, "*", "*.py"))
    )
    assert found == sorted([f"ade20k/{n}" for n in CARDS] + ["common/upernet_eva02"])


@pytest.mark.parametrize("name", sorted(CARDS))
def test_card_values(name):
    width, depth, blocks, dp, batch, iters, crop, channels, lr, ld, stride = CARDS[name]
    cfg = _load(name)
    net = cfg.model.backbone.net
    assert (net.embed_dim, net.depth, list(net.out_indices)) == (width, depth, blocks)
    assert net.mlp_ratio == 4 * 2 / 3 and net.pt_hw_seq_len == 16 and net.intp_freq
    assert net.use_abs_pos and list(net.window_block_indexes) == [] and net.img_size == crop
    assert net.drop_path_rate == dp
    assert cfg.model.decode_head.channels == channels
    assert list(cfg.model.decode_head.in_channels) == [width] * 4
    assert cfg.dataloader.train.total_batch_size == batch
    assert cfg.dataloader.train.mapper.augmentations.crop_size == crop
    assert (cfg.optimizer.lr, cfg.optimizer.params.layer_decay_rate) == (lr, ld)
    assert cfg.train.max_iter == iters and cfg.train.amp.enabled
    assert cfg.lr_multiplier.warmup_length == 1500 / iters
    inference = cfg.model.inference
    if name.endswith("ms_eval"):
        assert list(inference.ratios) == [0.5, 0.75, 1.0, 1.25, 1.5, 1.75] and inference.flip
        inference = inference.base
    assert tuple(inference.crop_size) == (crop, crop)
    assert tuple(inference.stride) == (stride, stride)
    with torch.device("meta"):
        model = instantiate(cfg.model)
    assert isinstance(model.backbone, FourScaleNeck) and isinstance(model.backbone.net, ViT)
    assert sorted(model.backbone.net.output_shape()) == sorted(f"b{i}" for i in blocks)


def test_out_indices_must_exist():
    with pytest.raises(ValueError, match="out_indices=\\[12\\]"):
        ViT(img_size=32, embed_dim=32, depth=2, num_heads=2, out_indices=[12])


def test_narrowed_card_trains_slides_and_runs_ms():
    cfg = _load("upernet_eva02_large_24_512_slide_80k_ms_eval")
    cfg.model.backbone.net.update(
        img_size=64, embed_dim=32, depth=4, num_heads=2, use_act_checkpoint=False
    )
    cfg.model.backbone.net.out_indices = [0, 1, 2, 3]
    cfg.model.backbone.in_features = ["b0", "b1", "b2", "b3"]
    cfg.model.backbone.norm = "BN"
    cfg.model.decode_head.update(in_channels=[32] * 4, channels=16, num_classes=4, norm="BN")
    cfg.model.auxiliary_head.update(in_channels=32, channels=8, norm="BN")
    cfg.model.inference.base.update(crop_size=(64, 64), stride=(43, 43))
    cfg.model.inference.update(scale=(256, 64), ratios=[0.5, 1.0])
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    assert isinstance(model.inference, MultiScaleFlipInference)
    batch = [
        {"image": torch.rand(3, 64, 48) * 255, "sem_seg": torch.randint(0, 4, (64, 48))}
        for _ in range(2)
    ]
    losses = model(batch)
    sum(losses.values()).backward()
    assert model.backbone.net.blocks[0].attn.q_proj.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():  # the 0.5 copy (32 x 48) is padded up to the 64 x 64 RoPE grid
        out = model([{"image": torch.rand(3, 64, 96) * 255, "height": 64, "width": 96}])
    assert out[0]["sem_seg"].shape == (4, 64, 96)


def test_mim_file_loads_onto_the_upernet_vit(tmp_path):
    """An EVA-02 MIM file (un-prefixed ViT keys, a MIM head) lands in ``backbone.net``."""
    cfg = _load("upernet_eva02_base_12_512_slide_60k")
    cfg.model.backbone.net.update(img_size=64, embed_dim=32, depth=4, num_heads=2)
    cfg.model.backbone.net.out_indices = [0, 1, 2, 3]
    cfg.model.backbone.in_features = ["b0", "b1", "b2", "b3"]
    cfg.model.decode_head.in_channels = [32] * 4
    cfg.model.auxiliary_head.in_channels = 32
    model = instantiate(cfg.model)
    vit_state = {
        k: torch.randn_like(v)
        for k, v in model.backbone.net.state_dict().items()
        if "rope" not in k
    }
    vit_state["lm_head.weight"] = torch.zeros(8, 32)
    path = tmp_path / "eva02_T_pt.pt"
    torch.save({"module": vit_state}, path)
    DetectionCheckpointer(model).load(str(path))
    key = "blocks.3.mlp.w3.weight"
    torch.testing.assert_close(model.backbone.net.state_dict()[key], vit_state[key])
