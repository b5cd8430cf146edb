import pytest
import torch

from det.modeling.roi_heads import MasknessRescoring, mask_maskness
from det.structures import Instances


def _masks():
    # Mask 0: pixels above 0.5 are 0.9 and 0.6 -> mean 0.75. Mask 1: 0.5 itself does not count
    # (strictly greater), nothing above -> 0. Mask 2: all four above -> mean of all.
    return torch.tensor(
        [
            [[[0.9, 0.6], [0.4, 0.2]]],
            [[[0.5, 0.1], [0.3, 0.5]]],
            [[[0.7, 0.8], [0.9, 1.0]]],
        ]
    )


def test_maskness_by_hand():
    assert mask_maskness(_masks(), 0.5).tolist() == pytest.approx([0.75, 0.0, 0.85])
    # Without the channel dim too.
    assert mask_maskness(_masks()[:, 0], 0.5).tolist() == pytest.approx([0.75, 0.0, 0.85])
    assert mask_maskness(torch.zeros(0, 1, 28, 28), 0.5).shape == (0,)


def _instances():
    inst = Instances((10, 10))
    inst.scores = torch.tensor([0.8, 0.9, 0.5])
    inst.pred_masks = _masks()
    return inst


def test_rescoring_replaces_scores_like_eva02():
    out = MasknessRescoring(0.5)([_instances()])[0]
    # Same order as before (EVA-02's re-sort never took effect).
    assert out.scores.tolist() == pytest.approx([0.8 * 0.75, 0.0, 0.5 * 0.85])
    assert not out.has("mask_scores")


def test_separate_mask_scores_keep_box_scores():
    out = MasknessRescoring(0.5, separate_mask_scores=True)([_instances()])[0]
    assert out.scores.tolist() == pytest.approx([0.8, 0.9, 0.5])
    assert out.mask_scores.tolist() == pytest.approx([0.8 * 0.75, 0.0, 0.5 * 0.85])
