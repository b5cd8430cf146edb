"""Loading synthetic EVA-02 MIM checkpoints (every layout) and the patch-14 converter."""

import importlib.util
import logging
from functools import partial
from pathlib import Path

import pytest
import torch
from timm.layers import resample_abs_pos_embed
from torch import nn

from det.checkpoint import DetectionCheckpointer
from det.checkpoint.eva02_pretrained import (
    MIMCheckpointError,
    convert_eva02_patch14_to_16,
    maybe_convert_eva02_mim,
)
from det.modeling.backbone import LastLevelMaxPool, SimpleFeaturePyramid, ViT

DIM, DEPTH, HEADS = 64, 2, 2
HIDDEN = int(DIM * 4 * 2 / 3)
LN = partial(nn.LayerNorm, eps=1e-6)


class _Detector(nn.Module):
    # Stand-in for GeneralizedRCNN: only the attribute path `backbone.net` matters here.
    def __init__(self, dim: int = DIM, depth: int = DEPTH):
        super().__init__()
        net = ViT(
            img_size=64,
            embed_dim=dim,
            depth=depth,
            num_heads=HEADS,
            norm_layer=LN,
            window_size=2,
            window_block_indexes=(0,),
        )
        self.backbone = SimpleFeaturePyramid(
            net, "last_feat", 32, (2.0, 1.0), top_block=LastLevelMaxPool(), square_pad=64
        )
        self.box_head = nn.Linear(32, 4)


def _mim_state(dim: int = DIM, depth: int = DEPTH, patch: int = 16, grid: int = 14) -> dict:
    """A state dict shaped like EVA-02's MIM pretraining model (asuka ``modeling_pretrain``)."""
    g = torch.Generator().manual_seed(0)

    def rnd(*shape):
        return torch.randn(*shape, generator=g)

    sd = {
        "cls_token": rnd(1, 1, dim),
        "mask_token": rnd(1, 1, dim),
        "pos_embed": rnd(1, 1 + grid * grid, dim),
        "patch_embed.proj.weight": rnd(dim, 3, patch, patch),
        "patch_embed.proj.bias": rnd(dim),
        "rope.freqs_cos": rnd(256, dim // HEADS),
        "rope.freqs_sin": rnd(256, dim // HEADS),
        "norm.weight": rnd(dim),
        "norm.bias": rnd(dim),
        "lm_head.weight": rnd(1024, dim),
        "lm_head.bias": rnd(1024),
    }
    for i in range(depth):
        p = f"blocks.{i}."
        sd.update(
            {
                p + "norm1.weight": rnd(dim),
                p + "norm1.bias": rnd(dim),
                p + "attn.q_bias": rnd(dim),
                p + "attn.v_bias": rnd(dim),
                p + "attn.q_proj.weight": rnd(dim, dim),
                p + "attn.k_proj.weight": rnd(dim, dim),
                p + "attn.v_proj.weight": rnd(dim, dim),
                p + "attn.rope.freqs_cos": rnd(256, dim // HEADS),
                p + "attn.rope.freqs_sin": rnd(256, dim // HEADS),
                p + "attn.proj.weight": rnd(dim, dim),
                p + "attn.proj.bias": rnd(dim),
                p + "norm2.weight": rnd(dim),
                p + "norm2.bias": rnd(dim),
                p + "mlp.w1.weight": rnd(HIDDEN, dim),
                p + "mlp.w1.bias": rnd(HIDDEN),
                p + "mlp.w2.weight": rnd(HIDDEN, dim),
                p + "mlp.w2.bias": rnd(HIDDEN),
                p + "mlp.ffn_ln.weight": rnd(HIDDEN),
                p + "mlp.ffn_ln.bias": rnd(HIDDEN),
                p + "mlp.w3.weight": rnd(dim, HIDDEN),
                p + "mlp.w3.bias": rnd(dim),
            }
        )
    return sd


@pytest.mark.parametrize("layout", ["flat", "model", "module", "model+module"])
def test_every_layout_loads_with_nothing_unexplained(layout):
    sd = _mim_state()
    ckpt = {
        "flat": sd,
        "model": {"model": sd},
        "module": {"module": sd, "epoch": 3},
        "model+module": {"model": {"module": sd}},
    }[layout]
    model = _Detector()
    rope_before = model.backbone.net.rope_glb.freqs_cos.clone()
    state, report = maybe_convert_eva02_mim(ckpt, model)
    assert report.is_clean, report.summary()
    assert report.target == "backbone.net"
    assert not report.converted
    assert set(report.dropped) == {
        "cls_token",
        "mask_token",
        "norm.weight",
        "norm.bias",
        "lm_head.weight",
        "lm_head.bias",
        "rope.freqs_cos",
        "rope.freqs_sin",
        "blocks.0.attn.rope.freqs_cos",
        "blocks.0.attn.rope.freqs_sin",
        "blocks.1.attn.rope.freqs_cos",
        "blocks.1.attn.rope.freqs_sin",
    }
    assert len(report.loaded) == 3 + 19 * DEPTH
    assert all(k.startswith(("backbone.simfp_", "box_head.")) for k in report.fresh)
    result = model.load_state_dict(state, strict=False)
    assert not result.unexpected_keys
    net = model.backbone.net
    torch.testing.assert_close(net.blocks[1].mlp.w3.weight, sd["blocks.1.mlp.w3.weight"])
    torch.testing.assert_close(net.pos_embed, sd["pos_embed"])  # kept on its 14x14 grid
    torch.testing.assert_close(net.rope_glb.freqs_cos, rope_before)  # regenerated, not loaded
    assert "lm_head" in report.summary() and "MISSING" not in report.summary()


def test_non_mim_checkpoints_are_left_alone():
    model = _Detector()
    assert maybe_convert_eva02_mim({"model": model.state_dict()}, model) is None
    mae = {"blocks.0.attn.qkv.weight": torch.zeros(3), "patch_embed.proj.weight": torch.zeros(1)}
    assert maybe_convert_eva02_mim(mae, model) is None


def test_wrong_width_fails_and_says_so():
    with pytest.raises(MIMCheckpointError, match=r"width 1024 .* embed_dim=64"):
        maybe_convert_eva02_mim(_mim_state(dim=1024, depth=1), _Detector())


def test_wrong_depth_fails_and_says_so():
    with pytest.raises(MIMCheckpointError, match="has 3 blocks .* depth=2"):
        maybe_convert_eva02_mim(_mim_state(depth=3), _Detector())


def test_other_shape_mismatch_fails():
    sd = _mim_state()
    sd["blocks.0.mlp.w1.weight"] = torch.zeros(2048, DIM)
    with pytest.raises(MIMCheckpointError, match="blocks.0.mlp.w1.weight"):
        maybe_convert_eva02_mim(sd, _Detector())


def test_unknown_keys_are_reported_not_loaded():
    sd = _mim_state()
    sd["blocks.0.gamma_1"] = torch.zeros(DIM)
    _, report = maybe_convert_eva02_mim(sd, _Detector())
    assert report.unexpected == ["blocks.0.gamma_1"]
    assert not report.is_clean and "UNEXPECTED" in report.summary()


def test_model_without_eva02_vit_is_an_error():
    with pytest.raises(MIMCheckpointError, match="exactly one EVA-02 ViT"):
        maybe_convert_eva02_mim(_mim_state(), nn.Linear(2, 2))


def test_converter_patch14_to_16():
    sd = _mim_state(patch=14, grid=16)
    sd["patch_embed.proj.weight"][0] = 0.5  # a constant kernel stays constant (weights sum to 1)
    out = convert_eva02_patch14_to_16(sd)
    assert out["patch_embed.proj.weight"].shape == (DIM, 3, 16, 16)
    torch.testing.assert_close(out["patch_embed.proj.weight"][0], torch.full((3, 16, 16), 0.5))
    assert out["pos_embed"].shape == (1, 197, DIM)
    torch.testing.assert_close(out["pos_embed"][:, :1], sd["pos_embed"][:, :1])  # cls kept
    expected = resample_abs_pos_embed(
        sd["pos_embed"], [14, 14], num_prefix_tokens=1, antialias=False
    )
    torch.testing.assert_close(out["pos_embed"], expected)
    assert out["lm_head.weight"] is sd["lm_head.weight"]


def test_unconverted_patch14_checkpoint_is_converted_on_load():
    sd = _mim_state(patch=14, grid=16)
    state, report = maybe_convert_eva02_mim({"module": sd}, _Detector())
    assert report.is_clean
    assert len(report.converted) == 2
    expected = convert_eva02_patch14_to_16(sd)
    torch.testing.assert_close(state["backbone.net.pos_embed"], expected["pos_embed"])
    torch.testing.assert_close(
        state["backbone.net.patch_embed.proj.weight"], expected["patch_embed.proj.weight"]
    )


def test_detection_checkpointer_uses_the_mapping(tmp_path, caplog):
    sd = _mim_state()
    path = tmp_path / "eva02_T_pt.pt"
    torch.save({"module": sd}, path)
    model = _Detector()
    with caplog.at_level(logging.INFO):
        DetectionCheckpointer(model).load(str(path))
    torch.testing.assert_close(model.backbone.net.blocks[0].attn.q_bias, sd["blocks.0.attn.q_bias"])
    assert "EVA-02 MIM checkpoint -> backbone.net" in caplog.text


def test_detector_checkpoint_at_another_size_loads_strictly():
    # Released fine-tuned checkpoints carry RoPE tables for their own size; they never fail.
    small = ViT(
        img_size=64, embed_dim=DIM, depth=1, num_heads=HEADS, window_size=2, window_block_indexes=()
    )
    big = ViT(
        img_size=96, embed_dim=DIM, depth=1, num_heads=HEADS, window_size=2, window_block_indexes=()
    )
    big.load_state_dict(small.state_dict(), strict=True)
    assert big.rope_glb.freqs_cos.shape == (36, 32)
    torch.testing.assert_close(big.blocks[0].attn.q_proj.weight, small.blocks[0].attn.q_proj.weight)


def _load_tool():
    path = Path(__file__).resolve().parents[3] / "tools" / "convert_pretrained.py"
    spec = importlib.util.spec_from_file_location("convert_pretrained", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_convert_tool_keeps_wrapper_and_writes_atomically(tmp_path, capsys):
    tool = _load_tool()
    src, dst = tmp_path / "p14.pt", tmp_path / "out" / "p14to16.pt"
    torch.save({"model": _mim_state(patch=14, grid=16), "epoch": 7}, src)
    assert tool.main([str(src), str(dst)]) == 0
    out = torch.load(dst, weights_only=True)
    assert out["epoch"] == 7
    assert out["model"]["patch_embed.proj.weight"].shape == (DIM, 3, 16, 16)
    assert out["model"]["pos_embed"].shape == (1, 197, DIM)
    assert [p.name for p in dst.parent.iterdir()] == ["p14to16.pt"]  # no temporary left behind
    assert "wrote" in capsys.readouterr().out


def test_convert_tool_rejects_other_files(tmp_path, capsys):
    tool = _load_tool()
    src = tmp_path / "other.pt"
    torch.save({"model": {"layer.weight": torch.zeros(2)}}, src)
    assert tool.main([str(src), str(tmp_path / "x.pt")]) == 1
    assert "not an EVA-02 checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
