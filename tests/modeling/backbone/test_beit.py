"""det's BEiT against timm's Beit (code nobody here wrote) with the same weights, and its contract
with the ViT-Adapter and the four-scale neck."""

from __future__ import annotations

import pytest
import torch
from timm.layers import gen_relative_position_index
from timm.models.beit import Beit

from det.modeling.backbone import BEiT, FourScaleNeck, ViTAdapter
from det.modeling.backbone.beit import beit_relative_position_index

TINY = dict(embed_dim=32, depth=3, num_heads=2)


def _pair(**kwargs) -> tuple[Beit, BEiT]:
    torch.manual_seed(0)
    ref = Beit(
        img_size=64,
        patch_size=16,
        num_classes=0,
        use_abs_pos_emb=kwargs.get("use_abs_pos_emb", False),
        use_rel_pos_bias=kwargs.get("use_rel_pos_bias", True),
        use_shared_rel_pos_bias=kwargs.get("use_shared_rel_pos_bias", False),
        init_values=kwargs.get("init_values"),
        **TINY,
    ).eval()
    state = ref.state_dict()
    with torch.no_grad():  # published tables and biases are far from their zero init
        for key, value in state.items():
            if key.endswith(("relative_position_bias_table", "q_bias", "v_bias")):
                value.normal_()
    ours = BEiT(img_size=64, out_indices=[0, 2], **TINY, **kwargs).eval()
    keep = {k: v for k, v in state.items() if not k.endswith("k_bias") and "fc_norm" not in k}
    ours.load_state_dict(keep, strict=True)
    return ref, ours


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(init_values=0.1),  # BEiT: per-block tables + layer scale
        dict(use_shared_rel_pos_bias=True, use_rel_pos_bias=False, use_abs_pos_emb=True),
        dict(use_rel_pos_bias=False, use_abs_pos_emb=True),  # EVA-01 without rel pos / gamma
    ],
)
def test_equals_timm_beit(kwargs) -> None:
    ref, ours = _pair(**kwargs)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = ref.forward_features(x)[:, 1:]
        got = ours(x)
    assert set(got) == {"b0", "b2"} and got["b2"].shape == (2, 32, 4, 4)
    torch.testing.assert_close(got["b2"].flatten(2).transpose(1, 2), expected, rtol=1e-5, atol=1e-5)


def test_relative_position_index_matches_timm() -> None:
    for grid in [(3, 3), (4, 6)]:
        assert torch.equal(
            beit_relative_position_index(grid), gen_relative_position_index(grid, class_token=True)
        )


def test_checkpointing_gives_the_same_gradients() -> None:
    torch.manual_seed(0)
    plain = BEiT(img_size=32, init_values=0.1, drop_path_rate=0.0, **TINY)
    cp = BEiT(img_size=32, init_values=0.1, use_act_checkpoint=True, **TINY)
    cp.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 32, 32)
    grads = []
    for model in (plain, cp):
        model(x)["b2"].square().sum().backward()
        grads.append(model.blocks[0].attn.relative_position_bias_table.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


def test_bad_sizes_name_the_setting() -> None:
    with pytest.raises(ValueError, match="img_size=\\(50, 50\\) is not divisible by patch_size=16"):
        BEiT(img_size=50, **TINY)
    model = BEiT(img_size=64, **TINY)
    with pytest.raises(ValueError, match="relative position grid \\(4, 4\\).*img_size"):
        model(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="not divisible by patch_size=16"):
        model(torch.randn(1, 3, 40, 64))
    fixed = BEiT(
        img_size=64,
        use_rel_pos_bias=False,
        use_abs_pos_emb=True,
        interpolate_pos_embed=False,
        **TINY,
    )
    with pytest.raises(ValueError, match="interpolate_pos_embed=False"):
        fixed(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="out_indices"):
        BEiT(img_size=64, out_indices=[3], **TINY)
    # Absolute positions interpolate when asked to (ViT-Adapter's BEiT).
    moving = BEiT(img_size=64, use_rel_pos_bias=False, use_abs_pos_emb=True, **TINY)
    assert moving(torch.randn(1, 3, 32, 48))["b2"].shape == (1, 32, 2, 3)


def test_cls_token_without_position_slot() -> None:
    torch.manual_seed(0)
    model = BEiT(
        img_size=32, use_rel_pos_bias=False, use_abs_pos_emb=True, cls_pos_embed=False, **TINY
    )
    _, cls, _ = model.tokens(torch.randn(2, 3, 32, 32))
    torch.testing.assert_close(cls, model.cls_token.expand(2, -1, -1))


def test_adapter_and_neck_over_beit() -> None:
    torch.manual_seed(0)
    vit = BEiT(
        img_size=64, embed_dim=48, depth=4, num_heads=4, init_values=1e-6, out_indices=[0, 1, 2, 3]
    )
    adapter = ViTAdapter(
        vit, interaction_indexes=[[0, 0], [1, 1], [2, 2], [3, 3]], deform_num_heads=4, norm="BN"
    ).eval()
    with torch.no_grad():
        out = adapter(torch.randn(1, 3, 64, 64))
    assert [tuple(v.shape) for v in out.values()] == [
        (1, 48, 16, 16),
        (1, 48, 8, 8),
        (1, 48, 4, 4),
        (1, 48, 2, 2),
    ]
    neck = FourScaleNeck(vit, in_features=["b0", "b1", "b2", "b3"], norm="BN").eval()
    with torch.no_grad():
        maps = neck(torch.randn(1, 3, 64, 64))
    assert {k: v.shape[-1] for k, v in maps.items()} == {
        "res2": 16,
        "res3": 8,
        "res4": 4,
        "res5": 2,
    }
