import pytest
import torch
from torch import nn

from det.solver import get_default_optimizer_params


def _ids(group):
    return [id(p) for p in group["params"]]


def _mlp():
    return nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))


def test_groups_merge_equal_hyperparameters():
    model = _mlp()
    lin0, bn, lin2 = model
    groups = get_default_optimizer_params(
        model,
        base_lr=1.0,
        weight_decay=0.1,
        weight_decay_norm=0.0,
        bias_lr_factor=2.0,
        weight_decay_bias=0.0,
    )
    # By hand: weights keep (lr 1, wd 0.1); every bias gets the bias override (lr 2, wd 0);
    # the norm weight gets wd 0 at lr 1. Groups appear in order of their first parameter.
    assert [{k: v for k, v in g.items() if k != "params"} for g in groups] == [
        {"lr": 1.0, "weight_decay": 0.1},
        {"lr": 2.0, "weight_decay": 0.0},
        {"lr": 1.0, "weight_decay": 0.0},
    ]
    assert _ids(groups[0]) == [id(lin0.weight), id(lin2.weight)]
    assert _ids(groups[1]) == [id(lin0.bias), id(bn.bias), id(lin2.bias)]
    assert _ids(groups[2]) == [id(bn.weight)]


class _TinyViTDet(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Module()
        self.backbone.net = nn.Module()
        self.backbone.net.pos_embed = nn.Parameter(torch.zeros(1, 4, 2))
        self.backbone.net.blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(2)])
        self.head = nn.Linear(2, 1)
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)
        self.tied = self.head  # shared module: its parameters are counted once


def test_lr_factor_func_and_overrides():
    model = _TinyViTDet()
    seen_names = []

    def decay(name):
        seen_names.append(name)
        if ".blocks." in name:
            return 0.5 ** (2 - int(name.split(".blocks.")[1].split(".")[0]))
        if name.endswith(".pos_embed"):
            return 0.125
        return 1.0

    groups = get_default_optimizer_params(
        model, base_lr=0.8, lr_factor_func=decay, overrides={"pos_embed": {"weight_decay": 0.0}}
    )
    assert seen_names == [
        "backbone.net.pos_embed",
        "backbone.net.blocks.0.weight",
        "backbone.net.blocks.0.bias",
        "backbone.net.blocks.1.weight",
        "backbone.net.blocks.1.bias",
        "head.weight",
        "head.bias",
    ]
    summary = [(g["lr"], g.get("weight_decay"), len(g["params"])) for g in groups]
    assert summary == [(0.1, 0.0, 1), (0.2, None, 2), (0.4, None, 2), (0.8, None, 2)]
    # No group sets weight_decay except the override: the optimizer's default applies (EVA-02).
    optimizer = torch.optim.AdamW(groups, lr=0.8, weight_decay=0.1)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.0, 0.1, 0.1, 0.1]


def test_argument_errors():
    model = _mlp()
    with pytest.raises(ValueError, match="base_lr"):
        get_default_optimizer_params(model, bias_lr_factor=2.0)
    with pytest.raises(ValueError, match="base_lr"):
        get_default_optimizer_params(model, lr_factor_func=lambda name: 1.0)
    with pytest.raises(ValueError, match="Conflicting"):
        get_default_optimizer_params(
            model, weight_decay_bias=0.0, overrides={"bias": {"weight_decay": 1.0}}
        )
