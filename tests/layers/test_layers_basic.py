import pytest
import torch
import torch.nn.functional as F
from timm.layers import DropPath as TimmDropPath
from torch import nn

from det.layers import (
    Conv2d,
    DropPath,
    FrozenBatchNorm2d,
    LayerNorm,
    NaiveSyncBatchNorm,
    ROIAlign,
    ShapeSpec,
    batched_nms,
    cat,
    get_norm,
    move_device_like,
    nms,
    nonzero_tuple,
    shapes_to_tensor,
)


def test_shape_spec():
    s = ShapeSpec(channels=256, stride=16)
    assert (s.channels, s.height, s.width, s.stride) == (256, None, None, 16)
    assert ShapeSpec() == ShapeSpec(None, None, None, None)


def test_conv2d_norm_activation_matches_manual():
    torch.manual_seed(0)
    norm = nn.GroupNorm(2, 4)
    conv = Conv2d(3, 4, kernel_size=3, padding=1, bias=False, norm=norm, activation=F.relu)
    x = torch.randn(2, 3, 5, 5)
    manual = F.relu(F.group_norm(F.conv2d(x, conv.weight, None, 1, 1), 2, norm.weight, norm.bias))
    torch.testing.assert_close(conv(x), manual)
    assert set(conv.state_dict()) == {"weight", "norm.weight", "norm.bias"}
    plain = Conv2d(3, 4, kernel_size=1)
    torch.testing.assert_close(plain(x), F.conv2d(x, plain.weight, plain.bias))


def test_tensor_helpers():
    a = torch.ones(2, 3)
    assert cat([a]) is a
    torch.testing.assert_close(cat([a, 2 * a], dim=1), torch.cat([a, 2 * a], dim=1))
    with pytest.raises(TypeError):
        cat(a)
    (idx,) = nonzero_tuple(torch.tensor(True))
    assert idx.tolist() == [0]
    assert nonzero_tuple(torch.tensor(False))[0].numel() == 0
    rows, cols = nonzero_tuple(torch.tensor([[0, 1], [1, 0]]))
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 0]
    t = shapes_to_tensor([3, 5])
    assert t.dtype == torch.int64 and t.tolist() == [3, 5]
    assert shapes_to_tensor([torch.tensor(4), torch.tensor(6)]).tolist() == [4, 6]
    assert move_device_like(torch.zeros(1), a).device == a.device


def test_layer_norm_matches_manual_channel_first():
    torch.manual_seed(0)
    ln = LayerNorm(6)
    with torch.no_grad():
        ln.weight.copy_(torch.randn(6))
        ln.bias.copy_(torch.randn(6))
    x = torch.randn(2, 6, 3, 4, dtype=torch.float64)
    ln = ln.double()
    mean = x.mean(dim=1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=1, keepdim=True)
    manual = (x - mean) / torch.sqrt(var + 1e-6)
    manual = manual * ln.weight[:, None, None] + ln.bias[:, None, None]
    torch.testing.assert_close(ln(x), manual)
    assert set(ln.state_dict()) == {"weight", "bias"}
    ln(x).sum().backward()
    assert ln.weight.grad is not None and ln.weight.grad.shape == (6,)


def test_frozen_batchnorm_matches_eval_batchnorm_and_loads_bn_state():
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(5)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2)
        bn.bias.normal_()
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2)
    bn.eval()
    frozen = FrozenBatchNorm2d(5)
    result = frozen.load_state_dict(bn.state_dict())  # includes num_batches_tracked
    assert not result.missing_keys and not result.unexpected_keys
    x = torch.randn(3, 5, 4, 4)
    torch.testing.assert_close(frozen(x), bn(x))
    assert not any(p.requires_grad for p in frozen.parameters())
    assert list(frozen.parameters()) == []

    model = nn.Sequential(nn.Conv2d(3, 5, 1), bn)
    converted = FrozenBatchNorm2d.convert_frozen_batchnorm(model)
    assert isinstance(converted[1], FrozenBatchNorm2d)
    torch.testing.assert_close(converted[1](x), bn(x))


@pytest.mark.parametrize(
    "name, cls",
    [
        ("BN", nn.BatchNorm2d),
        ("SyncBN", NaiveSyncBatchNorm),
        ("nnSyncBN", nn.SyncBatchNorm),
        ("FrozenBN", FrozenBatchNorm2d),
        ("GN", nn.GroupNorm),
        ("LN", LayerNorm),
    ],
)
def test_get_norm_variants(name, cls):
    norm = get_norm(name, 64)
    assert type(norm) is cls
    if name == "GN":
        assert norm.num_groups == 32 and norm.num_channels == 64
    out = norm(torch.randn(2, 64, 3, 3)) if name != "nnSyncBN" else None
    assert out is None or out.shape == (2, 64, 3, 3)


def test_get_norm_none_callable_and_errors():
    assert get_norm("", 8) is None
    assert get_norm(None, 8) is None
    gn = get_norm(lambda c: nn.GroupNorm(4, c), 8)
    assert isinstance(gn, nn.GroupNorm) and gn.num_groups == 4
    with pytest.raises(KeyError, match="'XN'"):
        get_norm("XN", 8)
    with pytest.raises(TypeError):
        get_norm(3, 8)


def test_naive_sync_bn_is_plain_bn_without_distributed():
    torch.manual_seed(0)
    sync, ref = NaiveSyncBatchNorm(4), nn.BatchNorm2d(4)
    x = torch.randn(3, 4, 5, 5)
    torch.testing.assert_close(sync(x), ref(x))
    torch.testing.assert_close(sync.running_mean, ref.running_mean)


def _greedy_nms_ref(boxes, scores, thr):
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    keep = []
    for i in order:
        ok = True
        for j in keep:
            x0 = max(boxes[i][0], boxes[j][0])
            y0 = max(boxes[i][1], boxes[j][1])
            x1 = min(boxes[i][2], boxes[j][2])
            y1 = min(boxes[i][3], boxes[j][3])
            inter = max(x1 - x0, 0) * max(y1 - y0, 0)
            area_i = (boxes[i][2] - boxes[i][0]) * (boxes[i][3] - boxes[i][1])
            area_j = (boxes[j][2] - boxes[j][0]) * (boxes[j][3] - boxes[j][1])
            if inter / (area_i + area_j - inter) > thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def test_nms_hand_computed_and_reference():
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    # box 1 vs box 0: IoU 81 / 100 > 0.5; box 2 is in another class.
    assert batched_nms(boxes, scores, torch.tensor([0, 0, 1, 0]), 0.5).tolist() == [0, 2, 3]
    assert nms(boxes, scores, 0.5).tolist() == [0, 3]
    assert nms(boxes, scores, 0.85).tolist() == [0, 1, 3]

    g = torch.Generator().manual_seed(0)
    xy = torch.rand(40, 2, generator=g) * 30
    rand_boxes = torch.cat([xy, xy + torch.rand(40, 2, generator=g) * 15 + 1], dim=1)
    rand_scores = torch.rand(40, generator=g)
    expected = _greedy_nms_ref(rand_boxes.tolist(), rand_scores.tolist(), 0.3)
    assert nms(rand_boxes, rand_scores, 0.3).tolist() == expected
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        batched_nms(torch.zeros(2, 5), torch.zeros(2), torch.zeros(2), 0.5)


def test_roi_align_on_linear_ramp():
    # Feature value = column index; with aligned=True, pixel j's center is at x = j + 0.5, so
    # pooling samples x gives x - 0.5.
    feat = torch.arange(10, dtype=torch.float32).repeat(10, 1)[None, None]
    pool = ROIAlign((2, 2), spatial_scale=1.0, sampling_ratio=2, aligned=True)
    out = pool(feat, torch.tensor([[0.0, 2.0, 2.0, 6.0, 6.0]]))
    torch.testing.assert_close(out, torch.tensor([[[[2.5, 4.5], [2.5, 4.5]]]]))
    # Half-resolution features with spatial_scale=0.5 see the box at half its coordinates.
    half = ROIAlign(2, spatial_scale=0.5, sampling_ratio=2)
    torch.testing.assert_close(half(feat, torch.tensor([[0.0, 4.0, 4.0, 12.0, 12.0]])), out)
    unaligned = ROIAlign((2, 2), 1.0, 2, aligned=False)
    out_u = unaligned(feat, torch.tensor([[0.0, 2.0, 2.0, 6.0, 6.0]]))
    torch.testing.assert_close(out_u, out + 0.5)
    with pytest.raises(ValueError, match=r"\[R, 5\]"):
        pool(feat, torch.zeros(1, 4))
    assert "aligned=True" in repr(pool)


def test_drop_path_is_timm():
    assert DropPath is TimmDropPath
