import pytest
import torch

from det.modeling.matcher import Matcher


def test_rpn_rule_with_low_quality_matches():
    # 2 ground truths x 6 predictions.
    iou = torch.tensor(
        [
            [0.9, 0.5, 0.1, 0.0, 0.2, 0.0],
            [0.1, 0.6, 0.25, 0.4, 0.4, 0.0],
        ]
    )
    matcher = Matcher([0.3, 0.7], [0, -1, 1], allow_low_quality_matches=False)
    matches, labels = matcher(iou)
    # Best IoU per prediction: 0.9 (gt0), 0.6 (gt1), 0.25 (gt1), 0.4 (gt1), 0.4 (gt1), 0.0.
    assert matches.tolist() == [0, 1, 1, 1, 1, 0]
    assert labels.dtype == torch.int8
    assert labels.tolist() == [1, -1, 0, -1, -1, 0]

    matcher = Matcher([0.3, 0.7], [0, -1, 1], allow_low_quality_matches=True)
    matches, labels = matcher(iou)
    # gt1's best IoU 0.6 is reached by prediction 1 only -> positive; gt0's (0.9) by 0.
    assert labels.tolist() == [1, 1, 0, -1, -1, 0]
    assert matches.tolist() == [0, 1, 1, 1, 1, 0]


def test_low_quality_ties_all_become_positive():
    iou = torch.tensor([[0.2, 0.4, 0.4, 0.1]])
    matches, labels = Matcher([0.3, 0.7], [0, -1, 1], allow_low_quality_matches=True)(iou)
    assert labels.tolist() == [0, 1, 1, 0]


def test_roi_head_rule_and_boundaries():
    iou = torch.tensor([[0.5, 0.4999, 0.7], [0.2, 0.3, 0.1]])
    matches, labels = Matcher([0.5], [0, 1])(iou)
    # Intervals are [low, high): 0.5 is positive.
    assert labels.tolist() == [1, 0, 1]
    assert matches.tolist() == [0, 0, 0]


def test_no_ground_truth():
    matches, labels = Matcher([0.3, 0.7], [0, -1, 1], allow_low_quality_matches=True)(
        torch.zeros(0, 5)
    )
    assert matches.tolist() == [0] * 5
    assert labels.tolist() == [0] * 5


def test_bad_arguments():
    with pytest.raises(ValueError, match="> 0"):
        Matcher([0.0], [0, 1])
    with pytest.raises(ValueError, match="labels"):
        Matcher([0.5], [0, 2])
    with pytest.raises(ValueError, match="increase"):
        Matcher([0.7, 0.3], [0, -1, 1])
    with pytest.raises(ValueError, match="need 3 labels"):
        Matcher([0.3, 0.7], [0, 1])
