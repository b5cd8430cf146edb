"""mmcv custom_keys param groups: first-match order, multipliers, unmatched defaults."""

import pytest
import torch
from torch import nn

from det.solver.mmcv_param_groups import get_mmcv_custom_keys_params, mmcv_custom_key

KEYS = {
    "level_embed": {"decay_mult": 0.0},
    "pos_embed": {"decay_mult": 0.0},
    "norm": {"decay_mult": 0.0},
    "bias": {"decay_mult": 0.0},
    "head": {"lr_mult": 10.0},
}


class _Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Module()
        self.backbone.pos_embed = nn.Parameter(torch.zeros(1, 4, 2))
        self.backbone.norm1 = nn.LayerNorm(2)
        self.backbone.proj = nn.Linear(2, 2)
        self.decode_head = nn.Module()
        self.decode_head.conv_seg = nn.Conv2d(2, 3, 1)
        self.decode_head.bn = nn.BatchNorm2d(3)


def _hyper(groups, param):
    (group,) = [g for g in groups if any(p is param for p in g["params"])]
    return group["lr"], group["weight_decay"]


def test_first_match_is_longest_then_alphabetical():
    assert mmcv_custom_key("decode_head.conv_seg.bias", KEYS) == "bias"
    assert mmcv_custom_key("decode_head.conv_seg.weight", KEYS) == "head"
    assert mmcv_custom_key("backbone.blocks.0.norm1.weight", KEYS) == "norm"
    assert mmcv_custom_key("backbone.pos_embed", KEYS) == "pos_embed"
    assert mmcv_custom_key("backbone.blocks.0.attn.qkv.weight", KEYS) is None


def test_groups_follow_mmcv():
    model = _Model()
    groups = get_mmcv_custom_keys_params(model, base_lr=2e-5, weight_decay=0.01, custom_keys=KEYS)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert _hyper(groups, model.backbone.pos_embed) == (2e-5, 0.0)
    assert _hyper(groups, model.backbone.norm1.weight) == (2e-5, 0.0)
    assert _hyper(groups, model.backbone.proj.weight) == (2e-5, 0.01)
    assert _hyper(groups, model.backbone.proj.bias) == (2e-5, 0.0)
    assert _hyper(groups, model.decode_head.conv_seg.weight) == pytest.approx((2e-4, 0.01))
    # "bias" wins over "head": no decay and no 10x lr, as the published run had.
    assert _hyper(groups, model.decode_head.conv_seg.bias) == (2e-5, 0.0)
    assert _hyper(groups, model.decode_head.bn.weight) == pytest.approx((2e-4, 0.01))


def test_unknown_option_is_named():
    with pytest.raises(ValueError, match=r"custom_keys\['head'\] has \['lr'\]"):
        get_mmcv_custom_keys_params(_Model(), 1.0, 0.0, {"head": {"lr": 1.0}})
