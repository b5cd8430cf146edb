"""Published DeiT / AugReg / hybrid checkpoints (key lists from timm) load into TimmViT."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer

from det.checkpoint import DetectionCheckpointer
from det.checkpoint.timm_vit_pretrained import TimmViTCheckpointError, maybe_convert_timm_vit
from det.modeling.backbone import HybridPatchEmbed, TimmViT, timm_resnetv2_stem

KEYS = Path(__file__).parents[1] / "fixtures" / "pretrained_keys"
SIZES = {
    "tiny": (192, 12, 3),
    "small": (384, 12, 6),
    "base": (768, 12, 12),
    "large": (1024, 24, 16),
}


def _meta_checkpoint(name: str) -> dict[str, torch.Tensor]:
    shapes = json.loads((KEYS / f"{name}.json").read_text())
    return {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}


def _published_vit(size: str, patch: int = 16, hybrid_layers=None, **kwargs) -> TimmViT:
    width, depth, heads = SIZES[size]
    with torch.device("meta"):
        embed = None
        if hybrid_layers is not None:
            embed = HybridPatchEmbed(timm_resnetv2_stem(hybrid_layers), 2048, width)
        return TimmViT(
            patch_size=patch,
            embed_dim=width,
            depth=depth,
            num_heads=heads,
            patch_embed=embed,
            **kwargs,
        )


# (fixture, model size, constructor kwargs, wrap under "model", expected dropped keys)
CASES = [
    # ViT-Adapter: no cls token, no final norm, position grid kept at pre-training size.
    ("deit_tiny_patch16_224", "tiny", dict(use_cls_token=False), True, 5),
    ("deit_small_patch16_224", "small", dict(use_cls_token=False), True, 5),
    ("deit_base_patch16_224", "base", dict(use_cls_token=False), True, 5),
    ("augreg_vit_tiny_patch16_224", "tiny", dict(use_cls_token=False), False, 5),
    ("augreg_vit_small_patch16_224", "small", dict(use_cls_token=False), False, 5),
    (
        "augreg_vit_base_patch16_384",
        "base",
        dict(use_cls_token=False, pretrain_img_size=384),
        False,
        5,
    ),
    (
        "augreg_vit_large_patch16_384",
        "large",
        dict(use_cls_token=False, pretrain_img_size=384),
        False,
        5,
    ),
    # RegionProxy (mmseg ViT): cls token, final norm, position grid resized to the 512 crop.
    (
        "augreg_vit_small_patch16_224",
        "small",
        dict(final_norm=True, pretrain_img_size=512),
        False,
        2,
    ),
    (
        "deit_base_distilled_patch16_384",
        "base",
        dict(final_norm=True, use_dist_token=True, pretrain_img_size=512),
        True,
        4,
    ),
]


@pytest.mark.parametrize("fixture,size,kwargs,wrap,num_dropped", CASES)
def test_published_checkpoint_loads_strictly(fixture, size, kwargs, wrap, num_dropped) -> None:
    model = _published_vit(size, **kwargs)
    ckpt = _meta_checkpoint(fixture)
    state, report = maybe_convert_timm_vit({"model": ckpt} if wrap else ckpt, model)
    model.load_state_dict(state, strict=True, assign=True)  # raises on any missing/unexpected
    assert len(report.loaded) == len(model.state_dict())
    assert len(report.dropped) == num_dropped and "head.weight" in report.dropped
    grid_before = round((ckpt["pos_embed"].shape[1] - 1) ** 0.5)
    resized = grid_before != model.pretrain_grid
    assert any("grid" in note for note in report.converted) == resized
    assert "timm-layout ViT checkpoint -> <model>" in str(report)


@pytest.mark.parametrize(
    "fixture,size,layers",
    [
        ("vit_small_r26_s32_384", "small", (2, 2, 2, 2)),
        ("vit_large_r50_s32_384", "large", (3, 4, 6, 3)),
    ],
)
def test_hybrid_checkpoint_loads_strictly(fixture, size, layers) -> None:
    model = _published_vit(
        size, patch=32, hybrid_layers=layers, final_norm=True, pretrain_img_size=512
    )
    state, report = maybe_convert_timm_vit(_meta_checkpoint(fixture), model)
    model.load_state_dict(state, strict=True, assign=True)
    assert state["pos_embed"].shape == (1, 1 + 16 * 16, SIZES[size][0])
    assert "pos_embed: grid 12x12 -> 16x16" in report.converted[0]


def test_values_through_detection_checkpointer(tmp_path) -> None:
    """A DeiT-style file: the loaded model computes timm's tokens; the grid is resized 4 -> 6."""
    torch.manual_seed(0)
    ref = VisionTransformer(
        img_size=64, patch_size=16, embed_dim=32, depth=2, num_heads=2, num_classes=7
    ).eval()
    path = tmp_path / "deit_tiny_like.pth"
    torch.save({"model": ref.state_dict()}, path)
    model = TimmViT(
        patch_size=16, embed_dim=32, depth=2, num_heads=2, pretrain_img_size=96, final_norm=True
    ).eval()
    DetectionCheckpointer(model).load(str(path))
    # Independent reference: bicubic resize of timm's grid, cls slot kept.
    grid = ref.pos_embed[:, 1:].reshape(1, 4, 4, 32).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(6, 6), mode="bicubic", align_corners=False)
    expected_pos = torch.cat([ref.pos_embed[:, :1], grid.flatten(2).transpose(1, 2)], 1)
    torch.testing.assert_close(model.pos_embed.data, expected_pos, rtol=1e-6, atol=1e-6)
    # At the checkpoint's own grid the loaded model computes timm's features.
    same_grid = TimmViT(
        patch_size=16, embed_dim=32, depth=2, num_heads=2, pretrain_img_size=64, final_norm=True
    ).eval()
    DetectionCheckpointer(same_grid).load(str(path))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = ref.forward_features(x)[:, 1:].transpose(1, 2).reshape(1, 32, 4, 4)
        torch.testing.assert_close(same_grid(x)["b1"], expected, rtol=1e-5, atol=1e-5)


def test_another_backbone_is_an_error_listing_groups() -> None:
    with torch.device("meta"):
        beit = timm.create_model("beit_base_patch16_224", pretrained=False).state_dict()
    model = _published_vit("base")
    with pytest.raises(TimmViTCheckpointError) as err:
        maybe_convert_timm_vit(beit, model)
    message = str(err.value)
    assert "unexpected" in message and "blocks.*.attn.q_bias" in message
    assert "blocks.*.gamma_1" in message or "blocks.*.attn.relative_position_bias_table" in message


def test_other_size_and_not_applicable() -> None:
    with pytest.raises(TimmViTCheckpointError, match="embed_dim=768"):
        maybe_convert_timm_vit(_meta_checkpoint("deit_small_patch16_224"), _published_vit("base"))
    prefixed = {f"backbone.{k}": v for k, v in _meta_checkpoint("deit_tiny_patch16_224").items()}
    assert maybe_convert_timm_vit(prefixed, _published_vit("tiny")) is None
    assert (
        maybe_convert_timm_vit(_meta_checkpoint("deit_tiny_patch16_224"), torch.nn.Linear(2, 2))
        is None
    )
    with pytest.raises(TimmViTCheckpointError, match="missing.*dist_token"):
        maybe_convert_timm_vit(
            _meta_checkpoint("deit_base_patch16_224"), _published_vit("base", use_dist_token=True)
        )


class _MMSegViT(torch.nn.Module):
    """mmseg 0.17's VisionTransformer layout on torch's own MultiheadAttention (the module mmcv
    wraps), for the vit2mmseg-file test: module names are the file's key names."""

    def __init__(self, dim: int = 32, depth: int = 2, heads: int = 2, grid: int = 4) -> None:
        super().__init__()
        nn = torch.nn
        self.patch_embed = nn.Module()
        self.patch_embed.projection = nn.Conv2d(3, dim, 16, 16)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + grid * grid, dim))
        self.layers = nn.ModuleList()
        for _ in range(depth):
            layer = nn.Module()
            layer.ln1, layer.ln2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
            layer.attn = nn.Module()
            layer.attn.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
            layer.ffn = nn.Module()
            layer.ffn.layers = nn.Sequential(
                nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU()), nn.Linear(4 * dim, dim)
            )
            self.layers.append(layer)
        self.ln1 = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed.projection(x)
        b, c, h, w = x.shape
        x = torch.cat([self.cls_token.expand(b, -1, -1), x.flatten(2).transpose(1, 2)], 1)
        x = x + self.pos_embed
        for layer in self.layers:
            y = layer.ln1(x)
            x = x + layer.attn.attn(y, y, y, need_weights=False)[0]
            x = x + layer.ffn.layers(layer.ln2(x))
        x = self.ln1(x)
        return x[:, 1:].transpose(1, 2).reshape(b, c, h, w)


def test_vit2mmseg_file_loads_and_computes_the_same(tmp_path) -> None:
    """RegionProxy's AugReg files are in mmseg's layout: renamed on load, same features."""
    torch.manual_seed(0)
    ref = _MMSegViT().eval()
    path = tmp_path / "vit_tiny_p16_mmseg.pth"
    torch.save(ref.state_dict(), path)
    model = TimmViT(
        patch_size=16, embed_dim=32, depth=2, num_heads=2, pretrain_img_size=64, final_norm=True
    ).eval()
    DetectionCheckpointer(model).load(str(path))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x)["b1"], ref(x), rtol=1e-5, atol=1e-5)
    _, report = maybe_convert_timm_vit(ref.state_dict(), model)
    assert "mmseg VisionTransformer names" in str(report)
    assert len(report.loaded) == len(model.state_dict())
