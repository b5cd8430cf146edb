"""soft_nms / batched_soft_nms against a per-box NumPy translation of mmcv 1.7.1's C++ loop."""

import importlib
import math

import numpy as np
import pytest
import torch

from det.layers import batched_soft_nms, soft_nms

# det.layers re-exports the function under the module's name, so fetch the module itself.
soft_nms_module = importlib.import_module("det.layers.soft_nms")

_F32 = np.float32


def reference_soft_nms(boxes, scores, method, iou_threshold=0.3, sigma=0.5, min_score=1e-3):
    """mmcv 1.7.1 ``softnms_cpu`` (offset 0), one box and one pair at a time, in float32.

    Written from the algorithm as the spec states it: pick the max current score among
    positions >= i (first on ties), swap it to i, decay every later box, and drop a box below
    ``min_score`` by moving the last box into its slot. One deliberate difference from mmcv
    (shared with det): a NaN IoU (two zero-area boxes) gives Gaussian weight 1.
    """
    boxes = np.asarray(boxes, dtype=_F32).reshape(-1, 4)
    n = boxes.shape[0]
    x1, y1, x2, y2 = (list(boxes[:, k]) for k in range(4))
    sc = list(np.asarray(scores, dtype=_F32))
    areas = [(x2[k] - x1[k]) * (y2[k] - y1[k]) for k in range(n)]
    inds = list(range(n))
    thr, sig, mins, zero, one = _F32(iou_threshold), _F32(sigma), _F32(min_score), _F32(0), _F32(1)
    picked_scores = []
    i = 0
    while i < n:
        best = i
        for pos in range(i + 1, n):
            if sc[best] < sc[pos]:
                best = pos
        for arr in (x1, y1, x2, y2, sc, areas, inds):
            arr[i], arr[best] = arr[best], arr[i]
        picked_scores.append(sc[i])
        pos = i + 1
        while pos < n:
            w = max(zero, min(x2[i], x2[pos]) - max(x1[i], x1[pos]))
            h = max(zero, min(y2[i], y2[pos]) - max(y1[i], y1[pos]))
            inter = w * h
            union = (areas[i] + areas[pos]) - inter
            ovr = inter / union if union != 0 else _F32("nan")
            if method == "naive":
                weight = zero if ovr >= thr else one
            elif method == "linear":
                weight = one - ovr if ovr >= thr else one
            else:
                # exp in double, rounded once: what a correctly rounded expf gives.
                weight = one if math.isnan(ovr) else _F32(math.exp(float(-(ovr * ovr) / sig)))
            sc[pos] = sc[pos] * weight
            if sc[pos] < mins:
                for arr in (x1, y1, x2, y2, sc, areas, inds):
                    arr[pos] = arr[n - 1]
                n -= 1
                pos -= 1
            pos += 1
        i += 1
    return np.array(inds[:n], dtype=np.int64), np.array(picked_scores[:n], dtype=_F32)


def _random_case(seed, n, kind):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(1, 35, (n, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(_F32)
    if kind == "uniform":
        scores = rng.uniform(0, 1, n)
    elif kind == "ties":
        # Few distinct scores and duplicated boxes: exercises the position-based tie rule.
        scores = rng.integers(1, 5, n) / 4
        boxes[n // 2 :] = boxes[: n - n // 2]
    else:  # "low": many scores near or under min_score
        scores = rng.uniform(0, 0.004, n)
    return boxes, scores.astype(_F32)


def _assert_same(keep, new_scores, ref_keep, ref_scores):
    np.testing.assert_array_equal(keep.numpy(), ref_keep)
    np.testing.assert_allclose(new_scores.numpy(), ref_scores, rtol=0, atol=1e-6)


@pytest.mark.parametrize("method", ["naive", "linear", "gaussian"])
@pytest.mark.parametrize("kind", ["uniform", "ties", "low"])
@pytest.mark.parametrize("block_size", [3, 128])
def test_matches_reference(method, kind, block_size, monkeypatch):
    # Small blocks force many block boundaries, tie groups cut by the top-k and deferred picks.
    monkeypatch.setattr(soft_nms_module, "_BLOCK_SIZE", block_size)
    for seed, n in [(0, 150), (1, 37)]:
        boxes, scores = _random_case(seed + 10 * len(kind), n, kind)
        thr = 0.3 if seed == 0 else 0.6
        ref = reference_soft_nms(boxes, scores, method, iou_threshold=thr, sigma=0.5)
        out = soft_nms(
            torch.from_numpy(boxes), torch.from_numpy(scores), method, iou_threshold=thr, sigma=0.5
        )
        _assert_same(*out, *ref)


@pytest.mark.parametrize("method", ["naive", "linear", "gaussian"])
@pytest.mark.parametrize("kind", ["ties", "low", "negative"])
def test_class_wise_matches_reference(method, kind, monkeypatch):
    monkeypatch.setattr(soft_nms_module, "_BLOCK_SIZE", 8)
    rng = np.random.default_rng(3)
    boxes, scores = _random_case(3, 120, "low" if kind == "low" else "ties")
    if kind == "negative":
        # Boxes left of x = 0 make shifted classes overlap (x spans more than the largest
        # coordinate + 1): the dense path must be used.
        boxes[:, [0, 2]] -= 30
        boxes[:, [1, 3]] -= 40
    classes = rng.integers(0, 4, 120)
    # The fork's offset trick in float32, computed independently of det.
    offsets = classes.astype(_F32) * (boxes.max() + _F32(1))
    shifted = boxes + offsets[:, None]
    separated = soft_nms_module._groups_separated(
        torch.from_numpy(shifted), torch.from_numpy(classes)
    )
    assert separated == (kind != "negative")
    ref = reference_soft_nms(shifted, scores, method, iou_threshold=0.5)
    out = batched_soft_nms(
        torch.from_numpy(boxes),
        torch.from_numpy(scores),
        torch.from_numpy(classes),
        method,
        iou_threshold=0.5,
    )
    _assert_same(*out, *ref)


def test_hand_computed():
    boxes = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 5], [20, 20, 30, 30.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    # B overlaps A with IoU 50 / 100 = 0.5.
    keep, new = soft_nms(boxes, scores, "linear", iou_threshold=0.3)
    assert keep.tolist() == [0, 2, 1]
    np.testing.assert_allclose(new.numpy(), [0.9, 0.7, 0.8 * 0.5], atol=1e-7)
    keep, new = soft_nms(boxes, scores, "gaussian", sigma=0.5)
    assert keep.tolist() == [0, 2, 1]
    np.testing.assert_allclose(new.numpy(), [0.9, 0.7, 0.8 * math.exp(-0.25 / 0.5)], atol=1e-7)
    keep, new = soft_nms(boxes, scores, "naive", iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    keep, _ = soft_nms(boxes, scores, "naive", iou_threshold=0.51)
    assert keep.tolist() == [0, 1, 2]


def test_ties_follow_reference_positions():
    # Disjoint boxes: picking box 2 swaps it with box 0, so the tie 1 vs 0 goes to box 1
    # (a stable sort by score would give [2, 0, 1]).
    boxes = torch.tensor([[0, 0, 1, 1], [10, 10, 11, 11], [20, 20, 21, 21.0]])
    keep, new = soft_nms(boxes, torch.tensor([0.5, 0.5, 0.9]))
    assert keep.tolist() == [2, 1, 0]
    assert new.tolist() == pytest.approx([0.9, 0.5, 0.5])


@pytest.mark.parametrize("method", ["naive", "linear", "gaussian"])
def test_all_scores_equal(method, monkeypatch):
    # One tie group far larger than a block: every pick is decided by reference positions.
    monkeypatch.setattr(soft_nms_module, "_BLOCK_SIZE", 4)
    boxes, _ = _random_case(7, 40, "uniform")
    scores = np.full(40, 0.5, dtype=_F32)
    ref = reference_soft_nms(boxes, scores, method)
    _assert_same(*soft_nms(torch.from_numpy(boxes), torch.from_numpy(scores), method), *ref)


def test_min_score_and_first_pick():
    boxes = torch.tensor([[0, 0, 1, 1], [10, 10, 11, 11], [20, 20, 21, 21.0]])
    # Scores under min_score are dropped, except the first pick, which is never checked.
    keep, new = soft_nms(boxes, torch.tensor([0.0005, 0.0008, 0.0002]))
    assert keep.tolist() == [1]
    assert new.tolist() == pytest.approx([0.0008])
    keep, _ = soft_nms(boxes, torch.tensor([0.5, 0.0009, 0.2]))
    assert keep.tolist() == [0, 2]


def test_empty_and_single():
    keep, new = soft_nms(torch.zeros(0, 4), torch.zeros(0))
    assert keep.shape == (0,) and keep.dtype == torch.int64 and new.shape == (0,)
    keep, new = batched_soft_nms(
        torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long)
    )
    assert keep.shape == (0,) and new.shape == (0,)
    keep, new = soft_nms(torch.tensor([[1.0, 2, 3, 4]]), torch.tensor([0.25]), "gaussian")
    assert keep.tolist() == [0] and new.tolist() == [0.25]


def test_class_wise_separates_classes():
    boxes = torch.tensor([[0, 0, 10, 10.0]] * 3)
    scores = torch.tensor([0.9, 0.8, 0.7])
    keep, new = batched_soft_nms(boxes, scores, torch.tensor([0, 1, 0]), "naive", 0.5)
    assert keep.tolist() == [0, 1]
    assert new.tolist() == pytest.approx([0.9, 0.8])


def test_zero_area_pairs_are_not_nan():
    boxes = torch.tensor([[5, 5, 5, 9], [5, 5, 5, 9], [0, 0, 4, 4.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    for method in ["naive", "linear", "gaussian"]:
        keep, new = soft_nms(boxes, scores, method)
        assert keep.tolist() == [0, 1, 2]
        assert torch.isfinite(new).all()


def test_bad_inputs():
    boxes, scores = torch.tensor([[0, 0, 1, 1.0]]), torch.tensor([0.5])
    with pytest.raises(ValueError, match="method"):
        soft_nms(boxes, scores, "hard")
    with pytest.raises(ValueError, match="finite"):
        soft_nms(boxes, torch.tensor([float("nan")]))
    with pytest.raises(ValueError, match="x1 >= x0"):
        soft_nms(torch.tensor([[2, 0, 1, 1.0]]), scores)
    with pytest.raises(ValueError, match="min_score"):
        soft_nms(boxes, scores, min_score=0.0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("method", ["naive", "linear", "gaussian"])
def test_cuda_matches_reference(method):
    boxes, scores = _random_case(5, 300, "ties")
    ref = reference_soft_nms(boxes, scores, method)
    keep, new = soft_nms(torch.from_numpy(boxes).cuda(), torch.from_numpy(scores).cuda(), method)
    assert keep.device.type == "cuda" and new.device.type == "cuda"
    _assert_same(keep.cpu(), new.cpu(), *ref)
