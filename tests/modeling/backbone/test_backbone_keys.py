"""Backbone state-dict keys, order and shapes equal the EVA-02 fork's for the seven model cards.

The fixtures (``shared/spec/checkpoint_keys/*.json``, one per model-card config) list every key
of the fork's model with its shape. The backbones are built on the ``meta`` device, so even
ViT-L at 1536 costs no memory; the RoPE tables are part of the comparison.
"""

import json
from functools import partial
from pathlib import Path

import pytest
import torch
from torch import nn

from det.modeling.backbone import LastLevelMaxPool, SimpleFeaturePyramid, ViT

# A copy of shared/spec/checkpoint_keys: every key and shape of seven released model-card models.
_KEYS_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "checkpoint_keys"

_B = dict(embed_dim=768, depth=12, num_heads=12, drop_path_rate=0.1)
_L = dict(embed_dim=1024, depth=24, num_heads=16, drop_path_rate=0.4)
_L_EVERY_3RD = [2, 5, 8, 11, 14, 17, 20, 23]

# (fixture, img_size, window_size, size args, global-attention blocks), from spec section 4.3.
CASES = [
    ("eva2_coco_cascade_mask_rcnn_vitdet_b_4attn_1024_lrd0p7", 1024, 16, _B, [2, 5, 8, 11]),
    (
        "eva2_coco_cascade_mask_rcnn_vitdet_b_6attn_win32_1536_lrd0p7",
        1536,
        32,
        _B,
        [1, 3, 5, 7, 9, 11],
    ),
    ("eva2_coco_cascade_mask_rcnn_vitdet_l_4attn_1024_lrd0p8", 1024, 16, _L, [5, 11, 17, 23]),
    ("eva2_coco_cascade_mask_rcnn_vitdet_l_8attn_win32_1536_lrd0p8", 1536, 32, _L, _L_EVERY_3RD),
    ("eva2_lvis_cascade_mask_rcnn_vitdet_l_4attn_1024_lrd0p8", 1024, 16, _L, [5, 11, 17, 23]),
    ("eva2_o365_cascade_mask_rcnn_vitdet_l_8attn_1536_lrd0p8", 1536, 16, _L, _L_EVERY_3RD),
    ("eva2_o365_to_lvis_cascade_mask_rcnn_vitdet_l_8attn_1536_lrd0p8", 1536, 16, _L, _L_EVERY_3RD),
]


def _build(img_size, window_size, size, global_blocks):
    depth = size["depth"]
    with torch.device("meta"):
        net = ViT(
            img_size=img_size,
            patch_size=16,
            window_size=window_size,
            mlp_ratio=4 * 2 / 3,
            qkv_bias=True,
            norm_layer=partial(nn.LayerNorm, eps=1e-6),
            window_block_indexes=[i for i in range(depth) if i not in global_blocks],
            residual_block_indexes=[],
            out_feature="last_feat",
            **size,
        )
        return SimpleFeaturePyramid(
            net=net,
            in_feature="last_feat",
            out_channels=256,
            scale_factors=(4.0, 2.0, 1.0, 0.5),
            top_block=LastLevelMaxPool(),
            norm="LN",
            square_pad=img_size,
        )


@pytest.mark.parametrize("name, img_size, window_size, size, global_blocks", CASES)
def test_backbone_keys_equal_fixture(name, img_size, window_size, size, global_blocks):
    path = _KEYS_DIR / f"{name}.json"
    expected = [
        (key, tuple(shape))
        for key, shape in json.loads(path.read_text()).items()
        if key.startswith("backbone.")
    ]
    model = _build(img_size, window_size, size, global_blocks)
    actual = [("backbone." + k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert set(actual) == set(expected), (
        f"missing: {sorted(set(expected) - set(actual))[:5]}, "
        f"extra: {sorted(set(actual) - set(expected))[:5]}"
    )
    assert actual == expected  # same registration order too


def test_fixture_cases_cover_every_fixture():
    assert {p.stem for p in _KEYS_DIR.glob("*.json")} == {case[0] for case in CASES}
