"""Hungarian matcher vs brute force; set criterion and point sampling on hand-made examples."""

import itertools
import math

import numpy as np
import pytest
import torch

import det.modeling.mask2former.criterion as criterion_module
from det.modeling.mask2former import (
    HungarianMatcher,
    SetCriterion,
    calculate_uncertainty,
    get_uncertain_point_coords_with_randomness,
    point_sample,
)


def _np_bilinear(mask, x, y):
    """mask (ndarray[H, W]) at normalized (x, y), align_corners=False, zero outside."""
    h, w = mask.shape
    px, py = x * w - 0.5, y * h - 0.5
    x0, y0 = math.floor(px), math.floor(py)
    total = 0.0
    for yy in (y0, y0 + 1):
        for xx in (x0, x0 + 1):
            if 0 <= yy < h and 0 <= xx < w:
                total += mask[yy, xx] * (1 - abs(px - xx)) * (1 - abs(py - yy))
    return total


def _np_sample(masks, coords):
    return np.array([[_np_bilinear(m, x, y) for x, y in coords] for m in masks])


def _np_bce(x, y):
    return np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))


def _np_cost(logits, masks, labels, tgt_masks, coords, wc, wm, wd):
    prob = np.exp(logits - logits.max(-1, keepdims=True))
    prob /= prob.sum(-1, keepdims=True)
    x = _np_sample(masks, coords)
    y = _np_sample(tgt_masks, coords)
    cost = np.zeros((len(masks), len(tgt_masks)))
    for q in range(len(masks)):
        s = 1 / (1 + np.exp(-x[q]))
        for t in range(len(tgt_masks)):
            bce = _np_bce(x[q], y[t]).mean()
            dice = 1 - (2 * (s * y[t]).sum() + 1) / (s.sum() + y[t].sum() + 1)
            cost[q, t] = wm * bce - wc * prob[q, labels[t]] + wd * dice
    return cost


def _random_case(q, t, k=4, size=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(q, k + 1, generator=g, dtype=torch.float64) * 2
    masks = torch.randn(q, size, size, generator=g, dtype=torch.float64) * 3
    labels = torch.randint(0, k, (t,), generator=g)
    tgt = (torch.rand(t, 2 * size, 2 * size, generator=g) > 0.5).double()
    return logits, masks, labels, tgt


def test_cost_matrix_matches_numpy():
    logits, masks, labels, tgt = _random_case(4, 3)
    coords = torch.rand(50, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    matcher = HungarianMatcher(cost_class=2.0, cost_mask=5.0, cost_dice=5.0, num_points=50)
    cost = matcher.cost_matrix(logits, masks, labels, tgt, coords)
    want = _np_cost(
        logits.numpy(), masks.numpy(), labels.numpy(), tgt.numpy(), coords.numpy(), 2.0, 5.0, 5.0
    )
    np.testing.assert_allclose(cost.numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("q,t,seed", [(3, 3, 0), (5, 2, 1), (4, 4, 2), (2, 0, 3), (5, 4, 4)])
def test_assignment_is_optimal_by_brute_force(q, t, seed):
    logits, masks, labels, tgt = _random_case(q, t, seed=seed)
    matcher = HungarianMatcher(cost_class=2.0, cost_mask=5.0, cost_dice=5.0, num_points=64)
    outputs = {"pred_logits": logits[None], "pred_masks": masks[None]}
    torch.manual_seed(seed)
    (rows, cols) = matcher(outputs, [{"labels": labels, "masks": tgt}])[0]
    # The matcher draws its points first thing; draw the same ones again.
    torch.manual_seed(seed)
    coords = torch.rand(64, 2)
    cost = matcher.cost_matrix(logits, masks, labels, tgt, coords).numpy()
    assert len(rows) == len(cols) == min(q, t)
    best = min(
        (sum(cost[p[j], j] for j in range(t)), p) for p in itertools.permutations(range(q), t)
    )
    got = sum(cost[r, c] for r, c in zip(rows.tolist(), cols.tolist()))
    # Any optimal assignment is fine; the float32 costs may differ in the last bits between
    # the matcher's run and this one (kernel summation order), hence the tolerance.
    assert got == pytest.approx(best[0], rel=1e-5, abs=1e-5)
    assert rows.tolist() == sorted(rows.tolist())


def test_point_sample_at_pixel_centres_reads_pixels():
    maps = torch.arange(12.0).view(1, 1, 3, 4)
    coords = torch.tensor([[[0.125, 1 / 6], [0.875, 5 / 6], [0.375, 0.5]]])
    out = point_sample(maps, coords, align_corners=False)
    torch.testing.assert_close(out, torch.tensor([[[0.0, 11.0, 5.0]]]))


def test_uncertain_points_prefer_the_boundary():
    torch.manual_seed(0)
    # Logits 0 (most uncertain) only in the left quarter, +-10 elsewhere.
    logits = torch.full((2, 1, 16, 16), 10.0)
    logits[:, :, :, :4] = 0.0
    coords = get_uncertain_point_coords_with_randomness(
        logits,
        calculate_uncertainty,
        num_points=100,
        oversample_ratio=3,
        importance_sample_ratio=0.5,
    )
    assert coords.shape == (2, 100, 2)
    assert (coords[:, :50, 0] < 0.25 + 1 / 32).all()  # the 50 importance points
    assert (coords[:, 50:, 0] >= 0.25 + 1 / 32).any()  # the 50 random ones spread out


def test_criterion_hand_made_example(monkeypatch):
    # Image 0: 3 queries, K = 2, one target of class 1. Query 1 predicts it (class and mask),
    # so it is matched; queries 0 and 2 target "no object" (index 2, weight 0.1).
    logits = torch.tensor([[[0.0, 0.0, 3.0], [0.0, 4.0, 0.0], [1.0, 0.0, 0.0]]])
    masks = torch.full((1, 3, 4, 4), -4.0)
    masks[0, 1, :, :2] = 4.0
    tgt_mask = torch.zeros(1, 8, 8)
    tgt_mask[0, :, :4] = 1.0
    recorded = {}
    real = criterion_module.get_uncertain_point_coords_with_randomness

    def record(*args, **kwargs):
        recorded["coords"] = real(*args, **kwargs)
        return recorded["coords"]

    monkeypatch.setattr(criterion_module, "get_uncertain_point_coords_with_randomness", record)
    crit = SetCriterion(
        num_classes=2,
        matcher=HungarianMatcher(cost_class=2.0, cost_mask=5.0, cost_dice=5.0, num_points=256),
        weight_dict={"loss_ce": 2.0, "loss_mask": 5.0, "loss_dice": 5.0},
        eos_coef=0.1,
        losses=["labels", "masks"],
        num_points=40,
        oversample_ratio=3.0,
        importance_sample_ratio=0.75,
    )
    outputs = {"pred_logits": logits, "pred_masks": masks}
    torch.manual_seed(0)
    losses = crit(outputs, [{"labels": torch.tensor([1]), "masks": tgt_mask}])

    def ce(row, y):
        row = np.asarray(row)
        return -(row[y] - np.log(np.exp(row).sum()))

    w = [0.1, 1.0, 0.1]
    terms = [ce(logits[0, 0], 2), ce(logits[0, 1], 1), ce(logits[0, 2], 2)]
    want_ce = sum(wi * t for wi, t in zip(w, terms)) / sum(w)
    assert float(losses["loss_ce"]) == pytest.approx(2.0 * want_ce, rel=1e-5)

    coords = recorded["coords"][0].numpy()
    x = _np_sample(masks[0, 1:2].numpy(), coords)[0]
    y = _np_sample(tgt_mask.numpy(), coords)[0]
    s = 1 / (1 + np.exp(-x))
    want_mask = _np_bce(x, y).mean()
    want_dice = 1 - (2 * (s * y).sum() + 1) / (s.sum() + y.sum() + 1)
    assert float(losses["loss_mask"]) == pytest.approx(5.0 * want_mask, rel=1e-4)
    assert float(losses["loss_dice"]) == pytest.approx(5.0 * want_dice, rel=1e-4)
    assert set(losses) == {"loss_ce", "loss_mask", "loss_dice"}


def test_criterion_aux_losses_and_empty_targets():
    torch.manual_seed(0)
    crit = SetCriterion(
        num_classes=3,
        matcher=HungarianMatcher(2.0, 5.0, 5.0, num_points=32),
        weight_dict={"loss_ce": 2.0, "loss_mask": 5.0},  # no dice weight: dropped
        eos_coef=0.1,
        losses=["labels", "masks"],
        num_points=32,
        oversample_ratio=2.0,
        importance_sample_ratio=0.5,
    )
    pred = {
        "pred_logits": torch.randn(2, 4, 4, requires_grad=True),
        "pred_masks": torch.randn(2, 4, 8, 8, requires_grad=True),
    }
    outputs = dict(pred, aux_outputs=[dict(pred), dict(pred)])
    targets = [
        {"labels": torch.zeros(0, dtype=torch.long), "masks": torch.zeros(0, 16, 16)},
        {"labels": torch.zeros(0, dtype=torch.long), "masks": torch.zeros(0, 16, 16)},
    ]
    losses = crit(outputs, targets)
    assert set(losses) == {f"loss_{n}{s}" for n in ("ce", "mask") for s in ("", "_0", "_1")}
    assert losses["loss_mask"].item() == 0.0
    # No targets: every query targets "no object"; the weighted mean is the plain mean.
    logp = pred["pred_logits"].log_softmax(-1)[..., -1]
    assert losses["loss_ce"].item() == pytest.approx(-2.0 * logp.mean().item(), rel=1e-5)
    sum(losses.values()).backward()
    assert pred["pred_logits"].grad is not None


def test_criterion_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown losses"):
        SetCriterion(2, HungarianMatcher(), {}, 0.1, ["boxes"], 10, 3.0, 0.75)
    with pytest.raises(ValueError, match="loss_giou"):
        SetCriterion(2, HungarianMatcher(), {"loss_giou": 1.0}, 0.1, ["labels"], 10, 3.0, 0.75)
