"""BEiT / CAE / EVA-01 pre-trained files into det's BEiT: published key lists load strictly, values
survive the DetectionCheckpointer, and the table resize is exact where a cubic spline must be."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from timm.models.beit import Beit

from det.checkpoint import DetectionCheckpointer
from det.checkpoint.beit_pretrained import (
    BEiTCheckpointError,
    _geometric_offsets,
    maybe_convert_beit,
    resize_rel_pos_table,
)
from det.modeling.backbone import BEiT, FourScaleNeck, ViTAdapter

KEYS = Path(__file__).parents[1] / "fixtures" / "pretrained_keys"


def _meta_checkpoint(name: str) -> dict[str, torch.Tensor]:
    shapes = json.loads((KEYS / f"{name}.json").read_text())
    return {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}


def _meta_beit(**kwargs) -> BEiT:
    with torch.device("meta"):
        return BEiT(**kwargs)


BEIT_L = dict(embed_dim=1024, depth=24, num_heads=16, init_values=1e-6)
EVA01 = dict(embed_dim=1408, depth=40, num_heads=16, mlp_ratio=6144 / 1408, img_size=896)


@pytest.mark.parametrize(
    "fixture,kwargs,dropped,fresh",
    [
        # ViT-Adapter BEiT-L at 640: per-block tables resized 27x27 -> 79x79.
        ("beit_large_patch16_224_pt22k_ft22k", dict(BEIT_L, img_size=640), 24 + 4, 0),
        ("beit_base_patch16_224_pt22k_ft22k", dict(img_size=512, init_values=0.1), 12 + 4, 0),
        # EVA-01 without rel pos / layer scale, then with both (learned from scratch).
        ("eva_psz14to16", dict(EVA01, use_abs_pos_emb=True, use_rel_pos_bias=False), 5, 0),
        ("eva_psz14to16", dict(EVA01, use_abs_pos_emb=True, init_values=1.0), 5, 3 * 40),
        # CAE: encoder.* with abs pos (sincos) and per-block tables the file lacks.
        ("cae_base_1600ep", dict(img_size=512, use_abs_pos_emb=True, init_values=0.1), None, 12),
    ],
)
def test_published_checkpoint_loads_strictly(fixture, kwargs, dropped, fresh) -> None:
    model = _meta_beit(**kwargs)
    ckpt = _meta_checkpoint(fixture)
    state, report = maybe_convert_beit({"model": ckpt}, model)
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    assert unexpected == []
    assert sorted(missing) == sorted(report.fresh) and len(missing) == fresh
    assert all(("relative_position" in k or "gamma" in k) for k in missing)
    if dropped is not None:
        assert len(report.dropped) == dropped
    else:  # CAE: everything outside the encoder, and the encoder's final norm
        assert all(not k.startswith("encoder.") or ".norm." in k for k in report.dropped)
        assert "mask_token" in report.dropped and "decoder.head.weight" in report.dropped
    if "table" in str(model.state_dict().keys()) and fresh == 0:
        rows = model.blocks[0].attn.relative_position_bias_table.shape[0]
        assert any("relative position tables" in note for note in report.converted) == (
            rows != 27 * 27 + 3
        )
    assert "BEiT-family checkpoint -> <model>" in str(report)


def test_wrapped_models_find_their_beit() -> None:
    with torch.device("meta"):
        neck = FourScaleNeck(
            BEiT(img_size=512, init_values=0.1, out_indices=[3, 5, 7, 11]),
            in_features=["b3", "b5", "b7", "b11"],
            norm="BN",
        )
    state, report = maybe_convert_beit(_meta_checkpoint("beit_base_patch16_224_pt22k_ft22k"), neck)
    assert report.target == "net" and all(k.startswith("net.") for k in state)
    assert any(k.startswith("fpn1") for k in report.fresh)


def _tiny_timm_beit(shared: bool = False, **kwargs) -> Beit:
    torch.manual_seed(0)
    model = Beit(
        img_size=64,
        patch_size=16,
        num_classes=5,
        embed_dim=32,
        depth=2,
        num_heads=2,
        use_abs_pos_emb=False,
        use_rel_pos_bias=not shared,
        use_shared_rel_pos_bias=shared,
        init_values=0.1,
        **kwargs,
    )
    with torch.no_grad():
        for name, value in model.named_parameters():
            if "relative_position_bias_table" in name:
                value.normal_()
    return model


def _unilm_file(model: Beit) -> dict[str, torch.Tensor]:
    # The published files also hold each block's index buffer; timm's k_bias is not in them.
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("k_bias")}
    for name, module in model.named_modules():
        if hasattr(module, "relative_position_index"):
            state[f"{name}.relative_position_index"] = module.relative_position_index
    return state


def test_values_through_detection_checkpointer(tmp_path) -> None:
    ref = _tiny_timm_beit()
    path = tmp_path / "beit.pth"
    torch.save({"model": _unilm_file(ref)}, path)
    same = BEiT(img_size=64, embed_dim=32, depth=2, num_heads=2, init_values=0.1).eval()
    DetectionCheckpointer(same).load(str(path))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = ref.eval().forward_features(x)[:, 1:]
        got = same(x)["b1"].flatten(2).transpose(1, 2)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)

    bigger = BEiT(img_size=128, embed_dim=32, depth=2, num_heads=2, init_values=0.1)
    DetectionCheckpointer(bigger).load(str(path))
    table = bigger.blocks[1].attn.relative_position_bias_table
    assert table.shape == (15 * 15 + 3, 2)
    src = ref.blocks[1].attn.relative_position_bias_table.detach()
    torch.testing.assert_close(table[-3:], src[-3:])  # cls entries kept
    # Offset (0, 0) sits on a source node: reproduced exactly by the interpolating spline.
    torch.testing.assert_close(table[7 * 15 + 7], src[3 * 7 + 3], rtol=1e-4, atol=1e-5)


def test_shared_table_is_copied_into_every_block() -> None:
    ref = _tiny_timm_beit(shared=True)
    model = BEiT(img_size=64, embed_dim=32, depth=2, num_heads=2, init_values=0.1)
    state, report = maybe_convert_beit(_unilm_file(ref), model)
    model.load_state_dict(state)
    shared = ref.rel_pos_bias.relative_position_bias_table.detach()
    for block in model.blocks:
        torch.testing.assert_close(block.attn.relative_position_bias_table.detach(), shared)
    assert "copied into all 2 blocks" in report.converted[0]


def test_table_resize_is_exact_for_cubic_functions() -> None:
    src_side, dst_grid = 13, (20, 12)  # 7x7 grid -> a 20x12 grid: axes 39 and 23
    ys = _geometric_offsets(src_side, 39)
    xs = _geometric_offsets(src_side, 23)
    assert ys[0] == pytest.approx(-19, abs=0.05) and xs[-1] == pytest.approx(11, abs=0.05)

    def f(y, x, head):
        return 0.01 * y**3 - 0.2 * x**2 * y + x + head

    src = np.stack([f(*np.meshgrid(ys, xs, indexing="ij"), h) for h in range(2)], -1)
    table = torch.cat([torch.from_numpy(src.reshape(-1, 2)).float(), torch.randn(3, 2)])
    out = resize_rel_pos_table(table, dst_grid)
    ty, tx = np.meshgrid(np.arange(39) - 19, np.arange(23) - 11, indexing="ij")
    want = np.stack([f(ty, tx, h) for h in range(2)], -1).reshape(-1, 2)
    np.testing.assert_allclose(out[:-3].numpy(), want, rtol=1e-4, atol=2e-3)
    torch.testing.assert_close(out[-3:], table[-3:])


def test_another_backbone_is_an_error_listing_groups() -> None:
    model = _meta_beit(img_size=224)
    with pytest.raises(BEiTCheckpointError) as info:
        maybe_convert_beit(_meta_checkpoint("deit_base_patch16_224"), model)
    message = str(info.value)
    assert "blocks.*.attn.qkv" in message and "blocks.*.attn.q_bias" in message
    with pytest.raises(BEiTCheckpointError, match="embed_dim=768"):
        maybe_convert_beit(_meta_checkpoint("beit_large_patch16_224_pt22k_ft22k"), model)
    # Not a ViT file, or no BEiT in the model: left to the other converters.
    assert maybe_convert_beit({"backbone.x": torch.zeros(1)}, model) is None
    assert (
        maybe_convert_beit(
            _meta_checkpoint("beit_base_patch16_224_pt22k_ft22k"), torch.nn.Linear(1, 1)
        )
        is None
    )


def test_adapter_over_beit_loads_under_vit() -> None:
    with torch.device("meta"):
        adapter = ViTAdapter(
            BEiT(img_size=512, init_values=1e-6, use_abs_pos_emb=False),
            interaction_indexes=[[0, 2], [3, 5], [6, 8], [9, 11]],
            deform_num_heads=12,
            norm="BN",
        )
    state, report = maybe_convert_beit(
        _meta_checkpoint("beit_base_patch16_224_pt22k_ft22k"), adapter
    )
    assert report.target == "vit" and "vit.blocks.0.attn.q_bias" in state
