"""ViT-Adapter: shapes, names, init, float64 per-point references, checkpointing, bad input.

Most tests wrap a tiny stand-in ViT implementing the segmentation-ViT contract
(``/work/notes/vit_contract.md``: ``tokens`` / ``run_blocks`` / ``blocks`` / ``embed_dim`` /
``patch_size``); ``test_vit_adapter_real_backbones.py`` runs the adapter on det's BEiT and
timm-layout ViT.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from det.layers import ShapeSpec
from det.modeling.backbone import Backbone
from det.modeling.backbone.vit_adapter import (
    Extractor,
    Injector,
    ViTAdapter,
    ViTAdapterConfigError,
    adapter_deform_inputs,
)

# ----------------------------------------------------------------------------------------------
# A tiny ViT that implements the contract.


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class _TinyViT(Backbone):
    """Patch 16, absolute pos embed for a 4x4 grid (bicubically resized unless ``fixed_pos``),
    optional cls token (``cls_pos``: whether cls gets a pos embedding)."""

    def __init__(
        self,
        dim=32,
        depth=4,
        heads=4,
        cls=True,
        cls_pos=True,
        fixed_pos=False,
        use_act_checkpoint=False,
        patch_size=16,
    ):
        super().__init__()
        self.embed_dim, self.patch_size, self.num_heads = dim, patch_size, heads
        self.patch_embed = nn.Conv2d(3, dim, patch_size, patch_size)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim)) if cls else None
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + 16, dim) * 0.5)
        self.cls_pos, self.fixed_pos = cls_pos, fixed_pos
        self.use_act_checkpoint = use_act_checkpoint
        self.blocks = nn.ModuleList(_Block(dim, heads) for _ in range(depth))
        self.calls = []  # (T, start, end) of every run_blocks call

    def tokens(self, x):
        h, w = x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size
        t = self.patch_embed(x).flatten(2).transpose(1, 2)
        grid = self.pos_embed[:, 1:].reshape(1, 4, 4, -1).permute(0, 3, 1, 2)
        if not self.fixed_pos:
            grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
        t = t + grid.flatten(2).transpose(1, 2)
        cls = None
        if self.cls_token is not None:
            cls = self.cls_token + (self.pos_embed[:, :1] if self.cls_pos else 0)
            cls = cls.expand(x.shape[0], -1, -1)
        return t, cls, (h, w)

    def run_blocks(self, x, hw, start, end):
        self.calls.append((x.shape[1], start, end))
        for blk in self.blocks[start:end]:
            if self.use_act_checkpoint and torch.is_grad_enabled():
                x = checkpoint(blk, x, use_reentrant=False)
            else:
                x = blk(x)
        return x

    def forward(self, x):
        t, cls, hw = self.tokens(x)
        return {"b3": self.run_blocks(t, hw, 0, len(self.blocks))}


_SPANS = [[0, 0], [1, 1], [2, 2], [3, 3]]


def _adapter(seed=0, vit=None, **kwargs):
    torch.manual_seed(seed)
    vit = vit or _TinyViT()
    args = dict(
        interaction_indexes=_SPANS,
        conv_inplane=8,
        deform_num_heads=4,
        deform_ratio=0.5,
        n_points=2,
        init_values=0.5,
        norm="BN",
    )
    args.update(kwargs)
    return ViTAdapter(vit, **args)


# ----------------------------------------------------------------------------------------------
# Float64 references written from the definitions (ViT-Adapter paper / spec section 2.1).


def _layer_norm(x, mod):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + mod.eps) * mod.weight + mod.bias


def _linear(x, mod):
    return x @ mod.weight.t() + mod.bias


def _bilinear(feat, x, y):
    """feat [D, H, W] at pixel coordinates (pixel centres at integers); zeros outside."""
    _, h, w = feat.shape
    x0, y0 = math.floor(float(x.detach())), math.floor(float(y.detach()))
    out = feat.new_zeros(feat.shape[0])
    for yy in (y0, y0 + 1):
        for xx in (x0, x0 + 1):
            if 0 <= yy < h and 0 <= xx < w:
                out = out + feat[:, yy, xx] * (1 - abs(x - xx)) * (1 - abs(y - yy))
    return out


def _deform_attn_reference(attn, query, ref_points, values, shapes):
    """MSDeformAttn, one query / head / level / point at a time.

    query [Lq, C], ref_points [Lq, 2] (x, y) in [0, 1], values [S, C] (one image)."""
    m, lv, p = attn.n_heads, attn.n_levels, attn.n_points
    v = _linear(values, attn.value_proj)
    d = v.shape[1] // m
    starts = [0]
    for h, w in shapes:
        starts.append(starts[-1] + h * w)
    rows = []
    for q in range(query.shape[0]):
        offsets = _linear(query[q], attn.sampling_offsets).view(m, lv, p, 2)
        logits = _linear(query[q], attn.attention_weights).view(m, lv * p)
        weights = (logits.exp() / logits.exp().sum(-1, keepdim=True)).view(m, lv, p)
        heads = []
        for head in range(m):
            acc = v.new_zeros(d)
            for lvl, (h, w) in enumerate(shapes):
                feat = v[starts[lvl] : starts[lvl + 1], head * d : (head + 1) * d].t()
                feat = feat.reshape(d, h, w)
                for k in range(p):
                    sx = ref_points[q, 0] + offsets[head, lvl, k, 0] / w
                    sy = ref_points[q, 1] + offsets[head, lvl, k, 1] / h
                    # align_corners=False: pixel i's centre is at (i + 0.5) / W.
                    acc = acc + weights[head, lvl, k] * _bilinear(feat, sx * w - 0.5, sy * h - 0.5)
            heads.append(acc)
        rows.append(torch.cat(heads))
    return _linear(torch.stack(rows), attn.output_proj)


def _centres(shapes):
    pts = []
    for h, w in shapes:
        for i in range(h):
            for j in range(w):
                pts.append([(j + 0.5) / w, (i + 0.5) / h])
    return torch.tensor(pts, dtype=torch.float64)


def _randomize(module, std=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * std)
    return module


# A 32 x 64 input: pyramid levels at strides 8 / 16 / 32 and the stride-16 ViT grid.
_PYRAMID = [(4, 8), (2, 4), (1, 2)]
_VIT_GRID = [(2, 4)]


def test_geometry_matches_cell_centres():
    inj, ext = adapter_deform_inputs(32, 64, torch.device("cpu"), torch.float64)
    torch.testing.assert_close(inj.spatial_shapes, torch.tensor(_PYRAMID))
    torch.testing.assert_close(inj.level_start_index, torch.tensor([0, 32, 40]))
    assert inj.reference_points.shape == (1, 8, 3, 2)
    for lvl in range(3):
        torch.testing.assert_close(inj.reference_points[0, :, lvl], _centres(_VIT_GRID))
    torch.testing.assert_close(ext.spatial_shapes, torch.tensor(_VIT_GRID))
    torch.testing.assert_close(ext.level_start_index, torch.tensor([0]))
    torch.testing.assert_close(ext.reference_points[0, :, 0], _centres(_PYRAMID))
    # Hand values: the first ViT cell centre is (0.5 / 4, 0.5 / 2); the last c4 one (1.5 / 2, 0.5).
    torch.testing.assert_close(inj.reference_points[0, 0, 0], torch.tensor([0.125, 0.25]).double())
    torch.testing.assert_close(ext.reference_points[0, -1, 0], torch.tensor([0.75, 0.5]).double())


def test_injector_matches_float64_per_point_reference():
    dim = 16
    inj = _randomize(Injector(dim, num_heads=2, n_points=2, deform_ratio=0.5, init_values=0.0))
    inj = inj.double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 8, dim, generator=g, dtype=torch.float64)
    c = torch.randn(2, 32 + 8 + 2, dim, generator=g, dtype=torch.float64)
    geometry, _ = adapter_deform_inputs(32, 64, torch.device("cpu"), torch.float64)
    out = inj(x, c, geometry)
    assert inj.attn.value_proj.weight.shape == (8, dim)  # int(16 * 0.5) value channels
    for b in range(2):
        attn = _deform_attn_reference(
            inj.attn,
            _layer_norm(x[b], inj.query_norm),
            _centres(_VIT_GRID),
            _layer_norm(c[b], inj.feat_norm),
            _PYRAMID,
        )
        torch.testing.assert_close(out[b], x[b] + inj.gamma * attn, rtol=1e-10, atol=1e-10)


def _dwconv_reference(x, conv, shapes):
    """Per-level depthwise 3x3 conv, zero padding, one output pixel at a time."""
    out, start = [], 0
    k, bias = conv.weight[:, 0], conv.bias
    for h, w in shapes:
        level = x[start : start + h * w].t().reshape(-1, h, w)
        start += h * w
        padded = F.pad(level, (1, 1, 1, 1))
        for i in range(h):
            for j in range(w):
                out.append((padded[:, i : i + 3, j : j + 3] * k).sum((1, 2)) + bias)
    return torch.stack(out)


def _gelu(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


@pytest.mark.parametrize("with_cffn", [True, False])
def test_extractor_matches_float64_per_point_reference(with_cffn):
    dim = 16
    ext = Extractor(
        dim, num_heads=2, n_points=2, deform_ratio=1.0, with_cffn=with_cffn, cffn_ratio=0.5
    )
    ext = _randomize(ext, seed=2).double()
    g = torch.Generator().manual_seed(3)
    c = torch.randn(2, 42, dim, generator=g, dtype=torch.float64)
    x = torch.randn(2, 8, dim, generator=g, dtype=torch.float64)
    _, geometry = adapter_deform_inputs(32, 64, torch.device("cpu"), torch.float64)
    out = ext(c, x, geometry, _PYRAMID)
    for b in range(2):
        want = c[b] + _deform_attn_reference(
            ext.attn,
            _layer_norm(c[b], ext.query_norm),
            _centres(_PYRAMID),
            _layer_norm(x[b], ext.feat_norm),
            _VIT_GRID,
        )
        if with_cffn:
            assert ext.ffn.fc1.weight.shape == (8, dim)  # int(16 * cffn_ratio 0.5)
            hidden = _linear(_layer_norm(want, ext.ffn_norm), ext.ffn.fc1)
            hidden = _gelu(_dwconv_reference(hidden, ext.ffn.dwconv.dwconv, _PYRAMID))
            want = want + _linear(hidden, ext.ffn.fc2)
        torch.testing.assert_close(out[b], want, rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------------------------
# The whole adapter.


@pytest.mark.parametrize("cls", [True, False])
def test_output_shapes_and_output_shape(cls):
    model = _adapter(vit=_TinyViT(cls=cls)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 96))
    want = {"res2": (16, 24), "res3": (8, 12), "res4": (4, 6), "res5": (2, 3)}
    assert list(out) == list(want)
    for name, hw in want.items():
        assert out[name].shape == (2, 32, *hw)
    assert model.output_shape() == {
        "res2": ShapeSpec(channels=32, stride=4),
        "res3": ShapeSpec(channels=32, stride=8),
        "res4": ShapeSpec(channels=32, stride=16),
        "res5": ShapeSpec(channels=32, stride=32),
    }
    assert model.size_divisibility == 32
    # Every block ran once, in spans, with the cls token first when the ViT has one.
    assert model.vit.calls == [(24 + int(cls), i, i + 1) for i in range(4)]


def test_parameter_names_are_the_published_ones():
    model = _adapter(use_extra_extractor=True)
    keys = set(model.state_dict())
    published = [
        "level_embed",
        "up.weight",
        "up.bias",
        *[f"spm.stem.{i}.weight" for i in (0, 1, 3, 4, 6, 7)],
        "spm.stem.1.running_var",
        *[f"spm.conv{k}.{i}.weight" for k in (2, 3, 4) for i in (0, 1)],
        *[f"spm.fc{k}.{p}" for k in (1, 2, 3, 4) for p in ("weight", "bias")],
        *[f"norm{k}.{p}" for k in (1, 2, 3, 4) for p in ("weight", "bias", "running_mean")],
    ]
    for i in range(4):
        inj, ext = f"interactions.{i}.injector", f"interactions.{i}.extractor"
        published += [f"{inj}.gamma", f"{inj}.query_norm.weight", f"{inj}.feat_norm.bias"]
        for part in ("sampling_offsets", "attention_weights", "value_proj", "output_proj"):
            published += [f"{inj}.attn.{part}.weight", f"{ext}.attn.{part}.bias"]
        published += [
            f"{ext}.ffn.fc1.weight",
            f"{ext}.ffn.dwconv.dwconv.weight",
            f"{ext}.ffn.fc2.bias",
            f"{ext}.ffn_norm.weight",
            f"{ext}.query_norm.weight",
        ]
    published += [f"interactions.3.extra_extractors.{k}.ffn.dwconv.dwconv.bias" for k in (0, 1)]
    assert set(published) <= keys
    assert not any(k.startswith("interactions.2.extra_") for k in keys)
    assert {k for k in keys if k.startswith("vit.")} == {f"vit.{k}" for k in model.vit.state_dict()}
    assert not [k for k in keys if "extra_extractors.2" in k]


def test_eva01_adapter_module_shapes():
    # The log's init dump of EVA-01 (spec section 2.2): D 1408, 16 heads, ratio 0.5, 4 points.
    inj = Injector(1408, num_heads=16, n_points=4, deform_ratio=0.5, init_values=0.0)
    ext = Extractor(1408, num_heads=16, n_points=4, deform_ratio=0.5, cffn_ratio=0.25)
    assert inj.attn.sampling_offsets.weight.shape == (384, 1408)
    assert inj.attn.attention_weights.weight.shape == (192, 1408)
    assert inj.attn.value_proj.weight.shape == (704, 1408)
    assert inj.attn.output_proj.weight.shape == (1408, 704)
    assert ext.attn.sampling_offsets.weight.shape == (128, 1408)
    assert ext.attn.attention_weights.weight.shape == (64, 1408)
    assert ext.ffn.fc1.weight.shape == (352, 1408)
    assert not inj.gamma.any()


def test_initialisation():
    torch.manual_seed(0)
    model = ViTAdapter(
        _TinyViT(dim=64, heads=4),
        interaction_indexes=_SPANS,
        conv_inplane=16,
        deform_num_heads=4,
        init_values=1e-6,
        cffn_ratio=1.0,
        norm="BN",
    )
    sd = model.state_dict()
    torch.testing.assert_close(sd["interactions.0.injector.gamma"], torch.full((64,), 1e-6))
    assert 0.7 < sd["level_embed"].std() < 1.3  # N(0, 1), 192 samples
    # He-normal with fan_out = k * k * out_channels / groups.
    for key, fan_out in [
        ("spm.stem.0.weight", 9 * 16),
        ("spm.conv4.0.weight", 9 * 64),
        ("spm.fc1.weight", 64),
        ("up.weight", 4 * 64),
        ("interactions.1.extractor.ffn.dwconv.dwconv.weight", 9),
    ]:
        std = sd[key].std().item()
        assert abs(std / math.sqrt(2 / fan_out) - 1) < 0.25, (key, std)
    for key in (
        "spm.fc1.bias",
        "up.bias",
        "interactions.1.extractor.ffn.dwconv.dwconv.bias",
        "interactions.0.extractor.ffn.fc1.bias",
        "interactions.0.injector.query_norm.bias",
    ):
        assert not sd[key].any(), key
    assert abs(sd["interactions.0.extractor.ffn.fc1.weight"].std().item() - 0.02) < 0.003
    assert sd["interactions.0.extractor.ffn.fc1.weight"].abs().max() <= 2.0
    for i in range(4):  # deformable attention at its reference init, after the trunc-normal pass
        attn = model.interactions[i].injector.attn
        assert not attn.sampling_offsets.weight.any() and not attn.attention_weights.weight.any()
        torch.testing.assert_close(
            attn.sampling_offsets.bias.view(4, 3, 4, 2)[1, 2, 3],
            torch.tensor([0.0, 4.0]),
            atol=1e-6,
            rtol=0,
        )
        assert attn.value_proj.weight.abs().max() <= math.sqrt(6 / (64 + 64))
    assert (sd["norm1.weight"] == 1).all() and (sd["spm.stem.1.weight"] == 1).all()


def test_forward_matches_the_spec_assembly():
    """Runs the spec's output assembly by hand from the (separately tested) sub-modules."""
    model = _adapter(seed=1, vit=_TinyViT(cls=True)).double().eval()
    x = torch.randn(2, 3, 64, 96, dtype=torch.float64)
    with torch.no_grad():
        out = model(x)
        vit, inj_geo, ext_geo = model.vit, *adapter_deform_inputs(64, 96, x.device, x.dtype)
        shapes = [(8, 12), (4, 6), (2, 3)]
        c1, c2, c3, c4 = model.spm(x)
        c = torch.cat(
            [c2 + model.level_embed[0], c3 + model.level_embed[1], c4 + model.level_embed[2]], 1
        )
        t, cls, hw = vit.tokens(x)
        maps = []
        for i, blk in enumerate(model.interactions):
            t = blk.injector(t, c, inj_geo)
            y = vit.run_blocks(torch.cat([cls, t], 1), hw, i, i + 1)
            cls, t = y[:, :1], y[:, 1:]
            for ext in [blk.extractor, *(blk.extra_extractors or [])]:
                c = ext(c, t, ext_geo, shapes)
            maps.append(t.transpose(1, 2).reshape(2, 32, 4, 6))
        assert len(model.interactions[3].extra_extractors) == 2
        n2, n3 = 96, 24
        f2 = c[:, :n2].transpose(1, 2).reshape(2, 32, 8, 12)
        f3 = c[:, n2 : n2 + n3].transpose(1, 2).reshape(2, 32, 4, 6)
        f4 = c[:, n2 + n3 :].transpose(1, 2).reshape(2, 32, 2, 3)
        f1 = model.up(f2) + c1
        f1 = f1 + F.interpolate(maps[0], size=(16, 24), mode="bilinear", align_corners=False)
        f2 = f2 + F.interpolate(maps[1], size=(8, 12), mode="bilinear", align_corners=False)
        f3 = f3 + maps[2]
        f4 = f4 + F.interpolate(maps[3], size=(2, 3), mode="bilinear", align_corners=False)
        want = [model.norm1(f1), model.norm2(f2), model.norm3(f3), model.norm4(f4)]
    for got, w in zip(out.values(), want):
        torch.testing.assert_close(got, w, rtol=1e-12, atol=1e-12)


def test_cls_token_joins_the_blocks_only():
    model = _adapter(vit=_TinyViT(cls=True)).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        a = model(x)["res2"]
        model.vit.cls_token.add_(1.0)
        b = model(x)["res2"]
    assert not torch.allclose(a, b)  # attention mixes cls into the patch tokens


def test_without_vit_feature_and_extra_extractors():
    model = _adapter(
        add_vit_feature=False,
        use_extra_extractor=False,
        with_cffn=False,
        interaction_indexes=[[0, 1], [2, 3]],
    ).eval()
    assert all(blk.extra_extractors is None for blk in model.interactions)
    assert not any("ffn" in k for k in model.state_dict())
    with torch.no_grad():
        out = model(torch.randn(1, 3, 32, 64))
    assert out["res5"].shape == (1, 32, 1, 2)


def _loss_and_grads(model, x):
    out = model(x)
    loss = sum(
        (f.double() * torch.linspace(-1, 1, f.numel()).view_as(f)).sum() for f in out.values()
    )
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return out, grads


def test_seeded_forward_backward_two_images():
    model = _adapter(drop_path_rate=0.2).train()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    out, grads = _loss_and_grads(model, x)
    assert all(torch.isfinite(f).all() for f in out.values())
    names = [n for n, p in model.named_parameters()]
    # Every parameter (cls token and its pos-embed slot included) gets a gradient.
    assert set(grads) == set(names)
    assert all(torch.isfinite(g).all() for g in grads.values())
    for key in (
        "interactions.0.injector.gamma",
        "interactions.3.extra_extractors.1.ffn.fc2.weight",
        "spm.stem.0.weight",
        "level_embed",
        "vit.patch_embed.weight",
        "vit.cls_token",
    ):
        assert grads[key].abs().sum() > 0, key


def test_activation_checkpointing_gives_same_outputs_and_grads(monkeypatch):
    from det.modeling.backbone.vit_adapter import interaction

    calls = []
    original = interaction.cp.checkpoint

    def counting_checkpoint(fn, *args, **kwargs):
        calls.append(kwargs.get("use_reentrant"))
        return original(fn, *args, **kwargs)

    monkeypatch.setattr(interaction.cp, "checkpoint", counting_checkpoint)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    results = []
    for with_cp in (False, True):
        torch.manual_seed(3)
        vit = _TinyViT(use_act_checkpoint=with_cp)
        model = _adapter(seed=4, vit=vit, with_cp=with_cp, drop_path_rate=0.3).train()
        torch.manual_seed(7)  # the same drop-path draws in both runs
        results.append(_loss_and_grads(model, x))
    # 4 injectors + 4 extractors + 2 extra extractors, non-reentrant, only with with_cp.
    assert calls == [False] * 10
    (out_a, grads_a), (out_b, grads_b) = results
    for name in out_a:
        torch.testing.assert_close(out_b[name], out_a[name], rtol=1e-6, atol=1e-6)
    assert set(grads_a) == set(grads_b)
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# Bad input.


@pytest.mark.parametrize(
    "spans,problem",
    [
        ([[0, 1], [2, 3], [4, 5], [6, 8]], r"\[6, 8\]"),  # past the last block (depth 8)
        ([[0, 1], [4, 5], [2, 3], [6, 7]], r"\[4, 5\]"),  # out of order
        ([[0, 1], [2, 3], [4, 5], [6, 6]], r"stops at block 6"),  # block 7 never runs
        ([[1, 1], [2, 3], [4, 5], [6, 7]], r"\[1, 1\]"),  # block 0 never runs
    ],
)
def test_bad_interaction_indexes_name_the_key_and_expected_value(spans, problem):
    with pytest.raises(ViTAdapterConfigError, match=problem) as info:
        _adapter(vit=_TinyViT(depth=8), interaction_indexes=spans)
    msg = str(info.value)
    assert "interaction_indexes" in msg and "0..7" in msg
    assert "[[0, 1], [2, 3], [4, 5], [6, 7]]" in msg


def test_add_vit_feature_needs_four_spans():
    with pytest.raises(ViTAdapterConfigError, match="add_vit_feature=True needs exactly 4"):
        _adapter(interaction_indexes=[[0, 1], [2, 3]])


def test_deform_ratio_not_dividing_heads_names_the_key():
    # int(32 * 0.3) = 9 value channels cannot be split over 4 heads.
    with pytest.raises(ViTAdapterConfigError, match=r"deform_ratio=0.3.*= 9.*\[0.25, 0.5, 1.0\]"):
        _adapter(deform_ratio=0.3)
    with pytest.raises(ValueError, match="must be a positive multiple of n_heads 4"):
        Injector(32, num_heads=4, n_points=2, deform_ratio=0.3, init_values=0.0)


def test_input_not_multiple_of_32_and_wrong_patch_size():
    model = _adapter().eval()
    with pytest.raises(ViTAdapterConfigError, match=r"input size 48x64 is not a multiple of 32"):
        model(torch.randn(1, 3, 48, 64))
    with pytest.raises(ViTAdapterConfigError, match=r"vit.patch_size=14; expected 16"):
        _adapter(vit=_TinyViT(patch_size=14))
