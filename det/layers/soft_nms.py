"""Soft-NMS (Bodla et al., 2017) with exactly the semantics of mmcv 1.7.1's ``soft_nms``.

EVA-02's detectors call ``mmcv.ops.soft_nms`` (a CPU-only C++ loop) at test time. This module
reproduces its results -- same kept boxes, same order, same decayed scores -- with torch ops on
the input's device and no compiled extension.

The reference algorithm keeps the boxes in one array and, for position i = 0, 1, ...:

1. picks the box with the highest current score among positions >= i (on ties, the one at the
   lowest position), swaps it into position i and emits it with its current score;
2. multiplies the score of every box at a position > i by a weight computed from its IoU with
   the picked box (``naive``: 0 if IoU >= thr else 1; ``linear``: 1 - IoU if IoU >= thr else 1;
   ``gaussian``: exp(-IoU^2 / sigma)), and removes every box whose score drops below
   ``min_score`` by moving the last box of the array into its slot.

IoU uses areas without the legacy ``+1`` (mmcv's ``offset=0``), in float32. The first picked box
is never checked against ``min_score``; every other box is.

Why this is not a simple loop here: one iteration per kept box, each launching a dozen kernels
over all remaining boxes, is slow on a GPU. Instead the highest-scoring boxes are taken as a
*block*; while the best box of the block scores strictly more than every box outside it, the
next picks must come from the block, so they are simulated on the host with a precomputed
block x block weight table. The boxes outside the block then receive the weights of all those
picks at once (a P x M table, multiplied in pick order so float32 rounding is unchanged). The
position bookkeeping of the reference (swaps and "move the last box into the hole") is replayed
on the host, because it decides ties between equal scores. In class-wise mode, where the offset
trick provably makes every cross-class weight exactly 1, only same-class pairs are computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["batched_soft_nms", "soft_nms"]

_METHODS = ("naive", "linear", "gaussian")
# Boxes simulated together on the host; also bounds the host-side weight table (B x B).
_BLOCK_SIZE = 128
# Upper bound on the elements of the picks x outside-boxes weight table (memory per block).
_MAX_TABLE_ELEMENTS = 1 << 24


def soft_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    method: str = "linear",
    iou_threshold: float = 0.3,
    sigma: float = 0.5,
    min_score: float = 1e-3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft-NMS over all boxes jointly, as ``mmcv.ops.soft_nms`` 1.7.1 computes it.

    Args:
        boxes (Tensor[N, 4]): XYXY absolute pixels with x1 >= x0 and y1 >= y0; computed in
            float32 whatever the input dtype.
        scores (Tensor[N]): finite detection scores.
        method: ``"naive"`` (hard NMS that keeps going), ``"linear"`` or ``"gaussian"``.
        iou_threshold: IoU from which ``naive``/``linear`` decay a score (``>=``); unused by
            ``gaussian``.
        sigma: Gaussian decay parameter, weight = exp(-IoU^2 / sigma); only for ``gaussian``.
        min_score: boxes whose decayed score falls below this are dropped; must be > 0
            (mmcv allows <= 0, which would keep every box).

    Returns:
        (keep, new_scores):
            keep (Tensor[K], int64): indices into ``boxes`` in selection order (decreasing
                decayed score at the time each box was picked).
            new_scores (Tensor[K]): the decayed score of each kept box, dtype of ``scores``.

    Two zero-area boxes have IoU 0/0. mmcv then gives ``naive``/``linear`` weight 1 and
    ``gaussian`` a NaN score; here every method uses weight 1 for such a pair. mmcv runs on the
    CPU; this runs on ``boxes.device``.
    """
    _check_inputs(boxes, scores, method, sigma, min_score)
    return _run(boxes, scores, method, iou_threshold, sigma, min_score)


def batched_soft_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    idxs: torch.Tensor,
    method: str = "linear",
    iou_threshold: float = 0.3,
    sigma: float = 0.5,
    min_score: float = 1e-3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft-NMS within each category, as EVA-02's ``class_wise=True`` branch computes it.

    Boxes are shifted by ``idx * (max_coordinate + 1)`` (torchvision's batched-NMS trick, done in
    float32 exactly as the EVA-02 fork does) so that boxes of different categories never overlap,
    then one :func:`soft_nms` runs over all of them. The selection order therefore interleaves
    categories by decayed score. Use ``boxes[keep]`` for the un-shifted boxes.

    Args:
        boxes (Tensor[N, 4]): XYXY absolute pixels, non-negative (clipped to the image) so that
            the shift separates categories.
        scores (Tensor[N]): finite detection scores.
        idxs (Tensor[N]): integer category (or any group) id of each box, >= 0.
        method, iou_threshold, sigma, min_score: as in :func:`soft_nms`.

    Returns:
        (keep, new_scores) as in :func:`soft_nms`.
    """
    _check_inputs(boxes, scores, method, sigma, min_score)
    if idxs.shape != scores.shape:
        raise ValueError(
            f"batched_soft_nms: idxs must have the shape of scores {tuple(scores.shape)}, "
            f"got {tuple(idxs.shape)}"
        )
    boxes = boxes.to(torch.float32)
    if boxes.numel() == 0:
        # The fork catches the error of max() on an empty tensor and uses 0.
        max_coordinate = torch.zeros((), dtype=torch.float32, device=boxes.device)
    else:
        max_coordinate = boxes.max()
    offsets = idxs.to(boxes) * (max_coordinate + torch.tensor(1).to(boxes))
    shifted = boxes + offsets[:, None]
    groups = None
    # Cross-class weights are exactly 1 (and may be skipped) when the classes' shifted boxes do
    # not overlap, and an IoU of 0 leaves a score unchanged (always true for gaussian).
    if (method == "gaussian" or iou_threshold > 0) and _groups_separated(shifted, idxs):
        groups = idxs.to(device=boxes.device, dtype=torch.int64)
    return _run(shifted, scores, method, iou_threshold, sigma, min_score, groups)


def _run(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    method: str,
    iou_threshold: float,
    sigma: float,
    min_score: float,
    groups: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    device = boxes.device
    if boxes.shape[0] == 0:
        return (
            torch.empty(0, dtype=torch.int64, device=device),
            torch.empty(0, dtype=scores.dtype, device=device),
        )
    ctx = _Context(
        method,
        float(np.float32(iou_threshold)),
        torch.tensor(float(np.float32(sigma)), dtype=torch.float32, device=device),
        np.float32(min_score),
        groups,
    )
    boxes = boxes.detach().to(torch.float32)
    keep, new_scores = _soft_nms_impl(
        boxes, scores.detach().to(device=device, dtype=torch.float32), ctx, _BLOCK_SIZE
    )
    return keep, new_scores.to(scores.dtype)


def _groups_separated(boxes: torch.Tensor, idxs: torch.Tensor) -> bool:
    """Whether every box of a group ends (x1) at or before any box of a later group starts."""
    if boxes.shape[0] == 0:
        return False
    uniq, inverse = torch.unique(idxs, return_inverse=True)
    start = boxes.new_full((len(uniq),), float("inf")).scatter_reduce(
        0, inverse, boxes[:, 0], "amin"
    )
    end = boxes.new_full((len(uniq),), float("-inf")).scatter_reduce(
        0, inverse, boxes[:, 2], "amax"
    )
    return bool((end[:-1] <= start[1:]).all())


@dataclass
class _Context:
    """Constants of one call.

    ``groups`` (Tensor[N] or None): group of each box, given only when weights between boxes of
    different groups are known to be exactly 1.
    """

    method: str
    iou_threshold: float
    sigma: torch.Tensor
    min_score: np.float32
    groups: torch.Tensor | None

    def weights(self, c1, a1, c2, a2) -> torch.Tensor:
        return _decay_weights(c1, a1, c2, a2, self.method, self.iou_threshold, self.sigma)


def _check_inputs(
    boxes: torch.Tensor, scores: torch.Tensor, method: str, sigma: float, min_score: float
) -> None:
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"soft_nms: boxes must be Tensor[N, 4], got {tuple(boxes.shape)}")
    if scores.dim() != 1 or scores.shape[0] != boxes.shape[0]:
        raise ValueError(
            f"soft_nms: scores must be Tensor[N] with N = {boxes.shape[0]} (from boxes), "
            f"got {tuple(scores.shape)}"
        )
    if method not in _METHODS:
        raise ValueError(f"soft_nms: method must be one of {_METHODS}, got {method!r}")
    if not min_score > 0:
        raise ValueError(f"soft_nms: min_score must be > 0, got {min_score}")
    if method == "gaussian" and not sigma > 0:
        raise ValueError(f"soft_nms: sigma must be > 0 for method='gaussian', got {sigma}")
    if boxes.shape[0]:
        finite = torch.isfinite(boxes).all() & torch.isfinite(scores).all()
        if not finite:
            raise ValueError("soft_nms: boxes and scores must be finite (got inf or NaN)")
        if ((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])).any():
            raise ValueError("soft_nms: boxes must be XYXY with x1 >= x0 and y1 >= y0")


def _decay_weights(
    coords1: torch.Tensor,
    areas1: torch.Tensor,
    coords2: torch.Tensor,
    areas2: torch.Tensor,
    method: str,
    iou_threshold: float,
    sigma: torch.Tensor,
) -> torch.Tensor:
    """Score multipliers that boxes ``coords1`` (picked) apply to boxes ``coords2``.

    Args:
        coords1 (Tensor[4, ...]), areas1 (Tensor[...]): float32 picked boxes (rows x0, y0, x1,
            y1) and their areas.
        coords2 (Tensor[4, ...]), areas2 (Tensor[...]): boxes being decayed; all four tensors
            broadcast together (e.g. [4, P, 1] with [4, 1, M] for every pair).
        sigma (Tensor[]): 0-d float32 tensor on the boxes' device.

    Returns:
        Tensor[...] (float32) of weights, the broadcast shape.
    """
    # Same float32 operations, in the same order, as mmcv's C++ loop, so results match bitwise.
    # One coordinate per row keeps every broadcast contiguous (much faster than [..., :2]).
    c1, c2 = coords1, coords2
    width = torch.minimum(c1[2], c2[2]).sub_(torch.maximum(c1[0], c2[0])).clamp_(min=0)
    height = torch.minimum(c1[3], c2[3]).sub_(torch.maximum(c1[1], c2[1])).clamp_(min=0)
    inter = width.mul_(height)
    iou = inter / (areas1 + areas2).sub_(inter)
    if method == "gaussian":
        # 0/0 (two zero-area boxes) -> IoU 0 -> weight 1, where mmcv would produce NaN scores.
        iou.nan_to_num_(nan=0.0)
        # Dividing by a device tensor (not a Python scalar) keeps CUDA from rewriting x / sigma
        # as x * (1 / sigma), which rounds differently.
        return torch.exp(-(iou * iou) / sigma)
    # mmcv compares a NaN IoU (0/0) with the threshold, which is False: weight 1. Mapping NaN to
    # -1 gives the same weights below. F.threshold(x, t, v) is "x if x > t else v", so using the
    # float32 just below the threshold turns ">" into mmcv's ">=" (and avoids slow bool masks).
    iou.nan_to_num_(nan=-1.0)
    below_threshold = float(np.nextafter(np.float32(iou_threshold), np.float32(-np.inf)))
    decayed = F.threshold(iou, below_threshold, -1.0 if method == "naive" else 0.0)
    if method == "linear":
        return decayed.neg_().add_(1.0)
    # naive: decayed is the IoU (>= threshold, hence >= 0) or -1; weight 0 or 1 respectively.
    return F.threshold(decayed.neg_(), 0.0, 0.0)


class _Layout:
    """Host-side replay of the reference's array positions (they decide ties between scores).

    ``order[p]`` is the box at position p, ``where[b]`` the position of box b. Positions below
    ``front`` hold the boxes picked so far, ``[front, end)`` the boxes still in play.
    """

    def __init__(self, n: int) -> None:
        self.order = np.arange(n)
        self.where = np.arange(n)
        self.gone = np.zeros(n, dtype=bool)
        self.front = 0
        self.end = n

    def pick(self, box: int) -> None:
        """Swap ``box`` into position ``front`` (the reference's selection step)."""
        i, p = self.front, self.where[box]
        other = self.order[i]
        self.order[i], self.order[p] = box, other
        self.where[box], self.where[other] = i, p
        self.front += 1

    def remove(self, dead: np.ndarray) -> None:
        """Drop ``dead`` boxes as one pass of the reference does.

        Scanning positions upwards, the reference fills each dropped box's slot with the last box
        of the array (dropping that one too if it is also dead). The net effect: survivors at
        positions >= the new end fill the holes below it, last survivor into the lowest hole.
        """
        if dead.size == 0:
            return
        self.gone[dead] = True
        new_end = self.end - dead.size
        pos = self.where[dead]
        holes = np.sort(pos[pos < new_end])
        tail = self.order[new_end : self.end][::-1]
        tail = tail[~self.gone[tail]]
        self.order[holes] = tail
        self.where[tail] = holes
        self.end = new_end


def _simulate_block(
    scores: np.ndarray,
    weights: np.ndarray,
    outside_max: float,
    positions: np.ndarray,
    max_picks: int,
    min_score: np.float32,
) -> tuple[list[int], list[np.float32], dict[int, np.ndarray], np.ndarray, np.ndarray]:
    """Run the reference's picks inside one block while they provably come from the block.

    Args:
        scores (ndarray[B], float32): current scores of the block's boxes.
        weights (ndarray[B, B], float32): ``weights[i, j]``: multiplier picking i applies to j.
        outside_max: highest current score outside the block; it can only decrease, so a block
            box scoring strictly more is the next pick.
        positions (ndarray[B]): reference positions of the block's boxes at the block start.
        max_picks: stop after this many picks.
        min_score: drop threshold (> 0).

    Returns:
        picks (block-local indices, in order), their scores, {pick number: block-local boxes
        dropped at that pick}, and the final scores and alive mask of the block.
    """
    cur = scores.copy()
    alive = np.ones(cur.shape[0], dtype=bool)
    n_alive = cur.shape[0]
    # Picked and dropped boxes stay in ``cur`` below min_score (picked ones at -1): weights lie
    # in [0, 1], so they stay there and one count detects new drops without a mask per pick.
    n_gone = 0
    picks: list[int] = []
    pick_scores: list[np.float32] = []
    deaths: dict[int, np.ndarray] = {}
    while n_alive and len(picks) < max_picks:
        j = int(cur.argmax())
        top = cur[j]
        if not top > outside_max:
            break
        if np.count_nonzero(cur == top) > 1:
            # Ties go to the lowest reference position, which is exact here only at the block
            # start; later ties end the block so the positions can be brought up to date.
            if picks:
                break
            cand = np.flatnonzero(cur == top)
            j = int(cand[np.argmin(positions[cand])])
        picks.append(j)
        pick_scores.append(top)
        alive[j] = False
        n_alive -= 1
        cur[j] = -1.0
        n_gone += 1
        cur *= weights[j]
        below = cur < min_score
        n_below = int(np.count_nonzero(below))
        if n_below > n_gone:
            dead = np.flatnonzero(below & alive)
            alive[dead] = False
            n_alive -= dead.size
            n_gone = n_below
            deaths[len(picks) - 1] = dead
    return picks, pick_scores, deaths, cur, alive


def _soft_nms_impl(
    boxes: torch.Tensor, scores: torch.Tensor, ctx: _Context, block_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Blocked soft-NMS on float32 inputs (N > 0). See the module docstring."""
    device = boxes.device
    # Device state of the boxes still in play; picked and dropped boxes leave it.
    ids = torch.arange(boxes.shape[0], device=device)
    coords = boxes.t().contiguous()
    areas = (coords[2] - coords[0]) * (coords[3] - coords[1])
    cur = scores.clone()
    layout = _Layout(boxes.shape[0])
    kept_ids: list[np.ndarray] = []
    kept_scores: list[np.ndarray] = []
    while ids.numel() > 0:
        block, outside_max, single = _select_block(cur, ids, layout, block_size)
        block_ids = ids[block].cpu().numpy()
        bc, ba = coords[:, block], areas[block]
        n_out = ids.numel() - block.numel()
        # The first pick may drop most boxes (all scores < min_score): apply it alone.
        single = single or not kept_ids
        max_picks = 1 if single else min(block_size, _MAX_TABLE_ELEMENTS // max(n_out, 1))
        picks, pick_scores, deaths, block_cur, block_alive = _simulate_block(
            cur[block].cpu().numpy(),
            ctx.weights(bc[:, :, None], ba[:, None], bc[:, None, :], ba[None, :]).cpu().numpy(),
            outside_max,
            layout.where[block_ids],
            max(max_picks, 1),
            ctx.min_score,
        )
        survivors = [block[torch.from_numpy(block_alive).to(device)]]
        new_cur = [torch.from_numpy(block_cur[block_alive]).to(device)]
        out_dead = out_dead_step = np.empty(0, dtype=np.int64)
        if n_out:
            outside = torch.ones(ids.numel(), dtype=torch.bool, device=device)
            outside[block] = False
            outside = outside.nonzero().squeeze(1)
            pick_pos = block[torch.as_tensor(picks, device=device)]
            decay = _decay_outside if ctx.groups is None else _decay_outside_grouped
            out_cur, dropped, out_dead_step = decay(ctx, ids, coords, areas, cur, pick_pos, outside)
            out_dead = ids[outside[dropped]].cpu().numpy()
            survivors.insert(0, outside[~dropped])
            new_cur.insert(0, out_cur[~dropped])
        keep_pos = torch.cat(survivors)
        ids, coords, areas = ids[keep_pos], coords[:, keep_pos], areas[keep_pos]
        cur = torch.cat(new_cur)

        _replay_layout(layout, block_ids, picks, deaths, out_dead, out_dead_step)
        kept_ids.append(block_ids[picks])
        kept_scores.append(np.asarray(pick_scores, dtype=np.float32))

    keep = torch.from_numpy(np.concatenate(kept_ids)).to(device)
    new_scores = torch.from_numpy(np.concatenate(kept_scores)).to(device)
    return keep, new_scores


def _decay_outside(ctx, ids, coords, areas, cur, pick_pos, outside):
    """Apply the picks ``pick_pos`` (in order) to the boxes at ``outside``.

    Args:
        ids, coords (Tensor[4, M]), areas, cur: device state of the M boxes in play.
        pick_pos (Tensor[P]), outside (Tensor[M']): positions into that state.

    Returns:
        (final scores (Tensor[M']), dropped mask (Tensor[M'] bool), pick number at which each
        dropped box fell below min_score (ndarray[D])).
    """
    pc, pa = coords[:, pick_pos], areas[pick_pos]
    oc, oa = coords[:, outside], areas[outside]
    table = ctx.weights(pc[:, :, None], pa[:, None], oc[:, None, :], oa[None, :])
    final, dropped, step = _running_product(cur[outside], table, ctx.min_score)
    return final, dropped, step.cpu().numpy()


def _decay_outside_grouped(ctx, ids, coords, areas, cur, pick_pos, outside):
    """:func:`_decay_outside` computing only same-group pairs (other weights are exactly 1).

    Each outside box gets one row per earlier pick of its own group (padded with 1, which
    leaves a float32 product unchanged), so the product keeps the reference's order.
    """
    device = cur.device
    num_picks = pick_pos.numel()
    out_groups = ctx.groups[ids[outside]]
    pick_groups = ctx.groups[ids[pick_pos]]
    # Outside boxes sorted by group: each pick meets the contiguous run of its group.
    order = torch.argsort(out_groups, stable=True)
    sorted_groups = out_groups[order]
    start = torch.searchsorted(sorted_groups, pick_groups)
    counts = torch.searchsorted(sorted_groups, pick_groups, right=True) - start
    # Rank of each pick among the earlier picks of its group = its row in the table.
    by_group = torch.argsort(pick_groups, stable=True)
    grouped = pick_groups[by_group]
    first = torch.searchsorted(grouped, grouped)
    rank = torch.empty_like(by_group)
    rank[by_group] = torch.arange(num_picks, device=device) - first

    pair_pick = torch.repeat_interleave(torch.arange(num_picks, device=device), counts)
    pair_start = torch.cumsum(counts, 0) - counts
    pair_col = order[
        start[pair_pick] + torch.arange(pair_pick.numel(), device=device) - pair_start[pair_pick]
    ]
    pc, pa = coords[:, pick_pos[pair_pick]], areas[pick_pos[pair_pick]]
    oc, oa = coords[:, outside[pair_col]], areas[outside[pair_col]]
    table = cur.new_ones((int(rank.max()) + 1, outside.numel()))
    table[rank[pair_pick], pair_col] = ctx.weights(pc, pa, oc, oa)
    initial = cur[outside]
    final, dropped, step = _running_product(initial, table, ctx.min_score)
    # Row r of a dropped box is the r-th pick of its group, except for a score below min_score
    # from the start (only before the very first pick, which is applied alone): pick 0.
    at = (torch.searchsorted(grouped, out_groups[dropped]) + step).clamp_(max=num_picks - 1)
    pick_index = torch.where(initial[dropped] < float(ctx.min_score), 0, by_group[at])
    return final, dropped, pick_index.cpu().numpy()


def _running_product(
    scores: torch.Tensor, weights: torch.Tensor, min_score: np.float32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Multiply scores by the weight rows in turn, as the reference does one pick at a time.

    Args:
        scores (Tensor[M]): current scores.
        weights (Tensor[R, M]): one row per step, in order; overwritten.
        min_score: drop threshold (> 0).

    Returns:
        (final scores (Tensor[M]), dropped mask (Tensor[M] bool), row at which each dropped
        score fell below min_score (Tensor[D])).
    """
    # A running product row by row keeps float32 rounding identical to the sequential loop.
    torch.mul(scores, weights[0], out=weights[0])
    for k in range(1, weights.shape[0]):
        torch.mul(weights[k - 1], weights[k], out=weights[k])
    # Weights lie in [0, 1] and min_score > 0, so a score >= 0 never rises and one < 0 never
    # reaches min_score: a box was dropped at some step iff its final score is below.
    dropped = weights[-1] < float(min_score)
    step = (weights[:, dropped] < float(min_score)).to(torch.uint8).argmax(0)
    return weights[-1], dropped, step


def _select_block(
    cur: torch.Tensor, ids: torch.Tensor, layout: _Layout, block_size: int
) -> tuple[torch.Tensor, float, bool]:
    """Choose at most ``block_size`` top-scoring boxes and the best score outside them.

    Returns:
        (block positions into ``cur`` (Tensor[B], int64), max score outside the block or -inf,
        whether only the block's first pick is certain).
    """
    m = cur.numel()
    if m <= block_size:
        return torch.arange(m, device=cur.device), float("-inf"), False
    values, top = torch.topk(cur, block_size + 1)
    values = values.cpu().numpy()
    if values[block_size - 1] > values[block_size]:
        return top[:block_size], float(values[block_size]), False
    # The cut falls inside a group of equal scores t: the boxes above t form the block.
    tie = float(values[block_size - 1])
    above = (cur > tie).nonzero().squeeze(1)
    if above.numel():
        return above, tie, False
    # More than block_size boxes share the best score: the next pick is the one at the lowest
    # reference position, and the picks after it need fresh positions.
    tied = (cur == tie).nonzero().squeeze(1)
    first = tied[int(np.argmin(layout.where[ids[tied].cpu().numpy()]))]
    return first.view(1), float("-inf"), True


def _replay_layout(
    layout: _Layout,
    block_ids: np.ndarray,
    picks: list[int],
    deaths: dict[int, np.ndarray],
    out_dead: np.ndarray,
    out_dead_step: np.ndarray,
) -> None:
    """Apply one block's picks and drops to the reference positions, pick by pick."""
    order = np.argsort(out_dead_step, kind="stable")
    out_dead = out_dead[order]
    bounds = np.searchsorted(out_dead_step[order], np.arange(len(picks) + 1)).tolist()
    for k, j in enumerate(picks):
        layout.pick(int(block_ids[j]))
        lo, hi = bounds[k], bounds[k + 1]
        if k in deaths:
            layout.remove(np.concatenate([block_ids[deaths[k]], out_dead[lo:hi]]))
        elif hi > lo:
            layout.remove(out_dead[lo:hi])
