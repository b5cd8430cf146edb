import torch

from det.modeling.postprocessing import detector_postprocess, sem_seg_postprocess
from det.structures import Boxes, Instances


def test_detector_postprocess_rescales_clips_and_pastes():
    # Network input 50 x 100 (h x w) -> original image 100 x 200: scale 2 on both axes.
    res = Instances((50, 100))
    res.pred_boxes = Boxes(torch.tensor([[10.0, 5, 30, 25], [90, 40, 120, 60], [110, 0, 130, 10]]))
    res.scores = torch.tensor([0.9, 0.8, 0.7])
    res.pred_classes = torch.tensor([1, 2, 3])
    res.pred_masks = torch.ones(3, 1, 28, 28)
    res.pred_keypoints = torch.tensor([[[10.0, 5.0, 1.0]]]).repeat(3, 1, 1)

    out = detector_postprocess(res, 100, 200)
    assert out.image_size == (100, 200)
    # Box 1 is clipped at x = 200; box 2 lies right of the image and becomes empty: dropped.
    torch.testing.assert_close(
        out.pred_boxes.tensor, torch.tensor([[20.0, 10, 60, 50], [180, 80, 200, 100]])
    )
    torch.testing.assert_close(out.scores, torch.tensor([0.9, 0.8]))
    assert out.pred_classes.tolist() == [1, 2]
    assert out.pred_masks.shape == (2, 100, 200) and out.pred_masks.dtype == torch.bool
    # An all-ones 28x28 mask pastes to exactly its 40x40 box (corners included: the
    # bilinear weight of the mask at a corner pixel is (0.5 + 0.5 * 28 / 40) ** 2 >= 0.5).
    expected = torch.zeros(100, 200, dtype=torch.bool)
    expected[10:50, 20:60] = True
    assert torch.equal(out.pred_masks[0], expected)
    torch.testing.assert_close(out.pred_keypoints[0, 0], torch.tensor([20.0, 10.0, 1.0]))


def test_detector_postprocess_proposals_and_empty():
    res = Instances((10, 10))
    res.proposal_boxes = Boxes(torch.tensor([[1.0, 1, 4, 4]]))
    out = detector_postprocess(res, 30, 20)
    torch.testing.assert_close(out.proposal_boxes.tensor, torch.tensor([[2.0, 3, 8, 12]]))

    empty = Instances((10, 10), pred_boxes=Boxes(torch.zeros(0, 4)))
    empty.pred_masks = torch.zeros(0, 1, 28, 28)
    out = detector_postprocess(empty, 20, 20)
    assert len(out) == 0 and out.pred_masks.shape == (0, 20, 20)


def test_sem_seg_postprocess_crops_padding():
    # Valid region 6 x 8 holds class scores (1, 2); the padding holds 100 and must not leak.
    padded = torch.full((2, 8, 12), 100.0)
    padded[0, :6, :8] = 1.0
    padded[1, :6, :8] = 2.0
    out = sem_seg_postprocess(padded, (6, 8), 12, 16)
    assert out.shape == (2, 12, 16)
    torch.testing.assert_close(out[0], torch.ones(12, 16))
    torch.testing.assert_close(out[1], torch.full((12, 16), 2.0))
