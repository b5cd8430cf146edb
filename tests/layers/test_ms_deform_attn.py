"""Multi-scale deformable attention vs an explicit per-point bilinear reference in float64."""

import math

import pytest
import torch

from det.layers import MSDeformAttn, ms_deform_attn


def _bilinear(feat, x, y):
    """Sample feat (Tensor[D, H, W]) at pixel coordinates (x, y) (pixel centres at integers),
    reading zeros outside. Differentiable in feat, x and y."""
    _, h, w = feat.shape
    x0, y0 = math.floor(float(x.detach())), math.floor(float(y.detach()))
    out = feat.new_zeros(feat.shape[0])
    for yy in (y0, y0 + 1):
        for xx in (x0, x0 + 1):
            if 0 <= yy < h and 0 <= xx < w:
                out = out + feat[:, yy, xx] * (1 - (x - xx).abs()) * (1 - (y - yy).abs())
    return out


def _reference(value, shapes, locations, weights):
    """The definition, one sample at a time. value [N, S, M, D] -> [N, Lq, M * D]."""
    n, _, m, d = value.shape
    _, lq, _, num_levels, p, _ = locations.shape
    starts = [0]
    for h, w in shapes[:-1]:
        starts.append(starts[-1] + h * w)
    rows = []
    for b in range(n):
        queries = []
        for q in range(lq):
            heads = []
            for head in range(m):
                acc = value.new_zeros(d)
                for lvl, (h, w) in enumerate(shapes):
                    feat = value[b, starts[lvl] : starts[lvl] + h * w, head].t().reshape(d, h, w)
                    for k in range(p):
                        # align_corners=False: normalized 0 is the left border, pixel i's
                        # centre is (i + 0.5) / W.
                        x = locations[b, q, head, lvl, k, 0] * w - 0.5
                        y = locations[b, q, head, lvl, k, 1] * h - 0.5
                        acc = acc + weights[b, q, head, lvl, k] * _bilinear(feat, x, y)
                heads.append(acc)
            queries.append(torch.cat(heads))
        rows.append(torch.stack(queries))
    return torch.stack(rows)


def _random_inputs(shapes, n=2, lq=4, m=2, d=3, p=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = sum(h * w for h, w in shapes)
    value = torch.randn(n, s, m, d, generator=g, dtype=torch.float64)
    # Some locations fall outside the maps, where zeros are read.
    locations = torch.rand(n, lq, m, len(shapes), p, 2, generator=g, dtype=torch.float64)
    locations = locations * 1.4 - 0.2
    weights = torch.rand(n, lq, m, len(shapes), p, generator=g, dtype=torch.float64)
    spatial = torch.tensor(shapes, dtype=torch.long)
    sizes = spatial.prod(1)
    start = torch.cat((sizes.new_zeros(1), sizes.cumsum(0)[:-1]))
    return value, spatial, start, locations, weights


def test_hand_computed_2x2():
    # One level [[1, 2], [3, 4]]: the map centre averages the four pixels; the top-left corner
    # (0, 0) is a quarter of pixel (0, 0), the rest being zero padding.
    value = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 4, 1, 1)
    spatial = torch.tensor([[2, 2]])
    start = torch.tensor([0])
    locations = torch.tensor([[0.5, 0.5], [0.0, 0.0], [0.75, 0.25]]).view(1, 3, 1, 1, 1, 2)
    weights = torch.ones(1, 3, 1, 1, 1)
    out = ms_deform_attn(value, spatial, start, locations, weights)
    torch.testing.assert_close(out.view(3), torch.tensor([2.5, 0.25, 2.0]))


@pytest.mark.parametrize(
    "shapes,p,m",
    [([(5, 7)], 1, 1), ([(6, 4), (3, 2), (2, 1)], 3, 2), ([(4, 4), (2, 3), (1, 1), (3, 5)], 2, 3)],
)
def test_forward_and_grads_match_reference(shapes, p, m):
    value, spatial, start, locations, weights = _random_inputs(shapes, m=m, p=p)
    inputs = [t.clone().requires_grad_() for t in (value, locations, weights)]
    ref_inputs = [t.clone().requires_grad_() for t in (value, locations, weights)]
    out = ms_deform_attn(inputs[0], spatial, start, inputs[1], inputs[2])
    ref = _reference(ref_inputs[0], shapes, ref_inputs[1], ref_inputs[2])
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    grad = torch.randn_like(out)
    out.backward(grad)
    ref.backward(grad)
    for got, want in zip(inputs, ref_inputs):
        torch.testing.assert_close(got.grad, want.grad, rtol=1e-9, atol=1e-9)


def test_gradcheck():
    value, spatial, start, locations, weights = _random_inputs([(3, 4), (2, 2)], n=1, lq=2, d=2)
    value, locations, weights = (t.requires_grad_() for t in (value, locations, weights))
    assert torch.autograd.gradcheck(
        lambda v, loc, w: ms_deform_attn(v, spatial, start, loc, w),
        (value, locations, weights),
    )


def test_grad_of_one_input_only():
    value, spatial, start, locations, weights = _random_inputs([(3, 4), (2, 2)])
    weights.requires_grad_()
    ms_deform_attn(value, spatial, start, locations, weights).sum().backward()
    ref_w = weights.detach().clone().requires_grad_()
    _reference(value, [(3, 4), (2, 2)], locations, ref_w).sum().backward()
    torch.testing.assert_close(weights.grad, ref_w.grad)


def test_shape_mismatch_names_the_problem():
    value, spatial, start, locations, weights = _random_inputs([(3, 4), (2, 2)])
    with pytest.raises(ValueError, match="spatial_shapes"):
        ms_deform_attn(value, spatial[:1], start[:1], locations, weights)


def test_module_init_matches_reference_layout():
    m = MSDeformAttn(d_model=16, n_levels=2, n_heads=8, n_points=3)
    bias = m.sampling_offsets.bias.view(8, 2, 3, 2)
    # Head h points along angle 2 pi h / 8, scaled so the larger |coordinate| is 1, then
    # point k sits at distance k + 1; the same on every level.
    want = torch.tensor(
        [[1, 0], [1, 1], [0, 1], [-1, 1], [-1, 0], [-1, -1], [0, -1], [1, -1]], dtype=torch.float
    )
    for k in range(3):
        torch.testing.assert_close(bias[:, 0, k], want * (k + 1), atol=1e-5, rtol=0)
        torch.testing.assert_close(bias[:, 1, k], want * (k + 1), atol=1e-5, rtol=0)
    assert not m.sampling_offsets.weight.any()
    assert not m.attention_weights.weight.any() and not m.attention_weights.bias.any()
    assert not m.value_proj.bias.any() and not m.output_proj.bias.any()
    bound = math.sqrt(6 / 32)  # xavier_uniform on a 16 x 16 weight
    assert m.value_proj.weight.abs().max() <= bound and m.value_proj.weight.std() > 0.1


def test_module_matches_reference_and_respects_padding_mask():
    torch.manual_seed(0)
    shapes = [(4, 5), (2, 3)]
    m = MSDeformAttn(d_model=8, n_levels=2, n_heads=2, n_points=2).double()
    for param in m.parameters():
        torch.nn.init.normal_(param, std=0.3)
    s = sum(h * w for h, w in shapes)
    x = torch.randn(2, s, 8, dtype=torch.float64)
    query = torch.randn(2, 3, 8, dtype=torch.float64)
    ref_pts = torch.rand(2, 3, 2, 2, dtype=torch.float64)
    spatial = torch.tensor(shapes)
    start = torch.tensor([0, 20])
    pad = torch.zeros(2, s, dtype=torch.bool)
    pad[0, 15:20] = True  # the last row of level 0 in image 0
    pad[1, 23:] = True

    out = m(query, ref_pts, x, spatial, start, pad)

    value = m.value_proj(x).masked_fill(pad[..., None], 0).view(2, s, 2, 4)
    offsets = m.sampling_offsets(query).view(2, 3, 2, 2, 2, 2)
    normalizer = torch.tensor([[5.0, 4.0], [3.0, 2.0]], dtype=torch.float64)
    locations = ref_pts[:, :, None, :, None, :] + offsets / normalizer[None, None, None, :, None]
    weights = m.attention_weights(query).view(2, 3, 2, 4).softmax(-1).view(2, 3, 2, 2, 2)
    want = m.output_proj(_reference(value, shapes, locations, weights))
    torch.testing.assert_close(out, want)

    # Changing features at padded positions changes nothing.
    x2 = x.clone()
    x2[pad] = 100.0
    torch.testing.assert_close(m(query, ref_pts, x2, spatial, start, pad), out)


def test_default_ratio_keeps_keys_and_shapes():
    m = MSDeformAttn(d_model=16, n_levels=2, n_heads=4, n_points=3)
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert shapes == {
        "sampling_offsets.weight": (48, 16),
        "sampling_offsets.bias": (48,),
        "attention_weights.weight": (24, 16),
        "attention_weights.bias": (24,),
        "value_proj.weight": (16, 16),
        "value_proj.bias": (16,),
        "output_proj.weight": (16, 16),
        "output_proj.bias": (16,),
    }


def test_value_ratio_matches_reference():
    # ViT-Adapter's ratio: values projected to int(d_model * ratio) channels, split over heads.
    torch.manual_seed(0)
    shapes = [(3, 4), (2, 2)]
    m = MSDeformAttn(d_model=12, n_levels=2, n_heads=2, n_points=2, ratio=0.5).double()
    assert m.value_proj.weight.shape == (6, 12) and m.output_proj.weight.shape == (12, 6)
    bound = math.sqrt(6 / 18)  # xavier_uniform on a 6 x 12 weight
    assert m.value_proj.weight.abs().max() <= bound
    for param in m.parameters():
        torch.nn.init.normal_(param, std=0.3)
    x = torch.randn(2, 16, 12, dtype=torch.float64)
    query = torch.randn(2, 3, 12, dtype=torch.float64)
    ref_pts = torch.rand(2, 3, 2, 2, dtype=torch.float64)
    spatial = torch.tensor(shapes)
    out = m(query, ref_pts, x, spatial, torch.tensor([0, 12]))

    value = m.value_proj(x).view(2, 16, 2, 3)
    offsets = m.sampling_offsets(query).view(2, 3, 2, 2, 2, 2)
    normalizer = torch.tensor([[4.0, 3.0], [2.0, 2.0]], dtype=torch.float64)
    locations = ref_pts[:, :, None, :, None, :] + offsets / normalizer[None, None, None, :, None]
    weights = m.attention_weights(query).view(2, 3, 2, 4).softmax(-1).view(2, 3, 2, 2, 2)
    want = m.output_proj(_reference(value, shapes, locations, weights))
    torch.testing.assert_close(out, want)


def test_value_ratio_not_dividing_heads_is_an_error():
    with pytest.raises(
        ValueError, match=r"int\(16 \* 0.3\) = 4 must be a positive multiple of n_heads 8"
    ):
        MSDeformAttn(d_model=16, n_heads=8, ratio=0.3)
