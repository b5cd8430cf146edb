import logging

import pytest
import torch
from torch import nn

from det.checkpoint import LoadReport, align_state_dict, group_keys


def test_group_keys_ranges_and_leaves():
    keys = [f"backbone.net.blocks.{i}.attn.{n}" for i in range(12) for n in ("q_bias", "v_bias")]
    keys += [f"roi_heads.box_predictor.{i}.cls_score.weight" for i in (0, 2)]
    keys += ["a.1.b.0", "a.2.b.1"]  # not a full grid: listed one by one
    assert group_keys(keys) == [
        "backbone.net.blocks.{0..11}.attn.{q_bias, v_bias}",
        "roi_heads.box_predictor.{0,2}.cls_score.weight",
        "a.1.b.0",
        "a.2.b.1",
    ]
    assert group_keys(["pixel_mean"]) == ["pixel_mean"]


class _Net(nn.Module):
    def __init__(self, out=3):
        super().__init__()
        self.backbone = nn.Module()
        self.backbone.net = nn.Module()
        self.backbone.net.blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(2)])
        self.backbone.net.register_buffer("table", torch.zeros(4))
        self.cls_score = nn.Linear(2, out)
        self.register_buffer("pixel_mean", torch.zeros(3), persistent=False)


def test_suffix_matching_and_categories():
    model = _Net(out=3)
    ckpt = {
        # backbone-only names load into backbone.net.* by suffix
        "blocks.0.weight": torch.ones(2, 2),
        "blocks.0.bias": torch.ones(2),
        "blocks.1.weight": torch.ones(2, 2),
        "table": torch.ones(9),  # buffer with another shape: the model keeps its own
        "cls_score.weight": torch.ones(5, 2),  # head for 5 classes: skipped
        "cls_score.bias": torch.ones(5),
        "pixel_mean": torch.ones(3),  # non-persistent buffer: computed by the model
        "lm_head.weight": torch.ones(1),
    }
    aligned, report = align_state_dict(ckpt, model)
    assert set(aligned) == {
        "backbone.net.blocks.0.weight",
        "backbone.net.blocks.0.bias",
        "backbone.net.blocks.1.weight",
    }
    assert report.renamed["backbone.net.blocks.0.weight"] == "blocks.0.weight"
    assert report.missing_keys == ["backbone.net.blocks.1.bias"]
    assert report.unexpected_keys == ["lm_head.weight"]
    assert report.ignored_buffer_keys == ["pixel_mean"]
    assert report.kept_buffer_shapes == [("backbone.net.table", (9,), (4,))]
    assert report.incorrect_shapes == [
        ("cls_score.weight", (5, 2), (3, 2)),
        ("cls_score.bias", (5,), (3,)),
    ]


def test_report_log_is_short_and_grouped(caplog):
    missing = [f"roi_heads.box_head.{i}.fc1.{n}" for i in range(3) for n in ("weight", "bias")]
    name = "roi_heads.box_predictor.{}.cls_score.weight"
    shapes = [(name.format(i), (366, 1024), (81, 1024)) for i in range(3)]
    report = LoadReport(missing_keys=missing, incorrect_shapes=shapes)
    with caplog.at_level(logging.INFO):
        report.log(logging.getLogger("det_test_report"))
    text = caplog.text
    assert "roi_heads.box_head.{0..2}.fc1.{weight, bias}" in text
    assert "roi_heads.box_predictor.{0..2}.cls_score.weight: (366, 1024) vs (81, 1024)" in text
    assert len(caplog.records) == 2


def test_ambiguous_suffix_is_an_error():
    model = nn.Module()
    model.a = nn.Module()
    model.a.norm = nn.LayerNorm(2)
    model.b = nn.Module()
    model.b.norm = nn.LayerNorm(2)
    with pytest.raises(ValueError, match="norm.weight"):
        align_state_dict({"norm.weight": torch.ones(2)}, model)


def test_shared_tensors_are_not_missing():
    model = nn.Module()
    shared = nn.Linear(2, 2)
    model.first = shared
    model.second = shared
    ckpt = {"first.weight": torch.ones(2, 2), "first.bias": torch.ones(2)}
    aligned, report = align_state_dict(ckpt, model)
    assert report.missing_keys == []
    model.load_state_dict(aligned, strict=False)
    assert torch.equal(model.second.weight, torch.ones(2, 2))
