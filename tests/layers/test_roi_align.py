import numpy as np
import pytest
import torch
import torch.nn.functional as F

from det.layers.roi_align import ROIAlign, roi_align


def _pool_one(img, box, size, sampling_ratio=0, aligned=True):
    op = ROIAlign((size, size), 1.0, sampling_ratio, aligned=aligned)
    rois = torch.tensor([[0.0, *box]])
    return op(torch.as_tensor(img, dtype=torch.float32)[None, None], rois)[0, 0]


@pytest.mark.parametrize("aligned", [True, False])
def test_hand_computed_on_a_plane(aligned):
    # value(y, x) = 5 * row + col on a 5 x 5 image. Box [1, 1, 3, 3] into 4 x 4 bins of 0.5 px:
    # one sample per bin (adaptive ratio ceil(2 / 4) = 1) at the bin center, shifted by
    # -0.5 px when aligned; on a plane bilinear sampling is exact: value = 5 * y + x.
    img = np.arange(25, dtype=np.float32).reshape(5, 5)
    centers = 1 + 0.25 + 0.5 * np.arange(4) - (0.5 if aligned else 0.0)
    expected = 5 * centers[:, None] + centers[None, :]
    out = _pool_one(img, [1, 1, 3, 3], 4, aligned=aligned)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-5)


def _grid_sample_reference(img, box, size, ratio):
    # ratio x ratio samples per bin at regular positions, bilinear with zero padding
    # (grid_sample, align_corners=False puts pixel centers at integer + 0.5), then averaged.
    h, w = img.shape
    x0, y0, x1, y1 = box
    n = size * ratio
    xs = x0 + (np.arange(n) + 0.5) * (x1 - x0) / n
    ys = y0 + (np.arange(n) + 0.5) * (y1 - y0) / n
    gx, gy = np.meshgrid(xs / w * 2 - 1, ys / h * 2 - 1)
    grid = torch.from_numpy(np.stack([gx, gy], axis=-1)[None]).float()
    samples = F.grid_sample(torch.from_numpy(img)[None, None], grid, align_corners=False)
    return F.avg_pool2d(samples, ratio)[0, 0]


@pytest.mark.parametrize("ratio", [1, 2, 3])
def test_matches_grid_sample_reference(ratio):
    rng = np.random.default_rng(ratio)
    img = (rng.random((30, 30)) * 100).astype(np.float32)
    box = [10.0, 10.0, 20.0, 20.0]
    out = _pool_one(img, box, 5, sampling_ratio=ratio)
    torch.testing.assert_close(out, _grid_sample_reference(img, box, 5, ratio), atol=1e-4, rtol=0)


def test_half_size_image_and_box_give_the_same_output():
    # Bilinear 2x downsampling of a smooth (linear) image commutes with RoIAlign.
    yy, xx = np.mgrid[0:30, 0:30].astype(np.float32)
    img = 3 * xx + 2 * yy
    half = F.interpolate(torch.from_numpy(img)[None, None], scale_factor=0.5, mode="bilinear")
    out = _pool_one(img, [10, 10, 20, 20], 5)
    out_half = _pool_one(half[0, 0].numpy(), [5, 5, 10, 10], 5)
    torch.testing.assert_close(out_half, out, atol=1e-4, rtol=0)


def test_empty_box_gives_zeros_and_zero_gradient():
    img = torch.rand(1, 1, 5, 5, requires_grad=True)
    out = ROIAlign((7, 7), 1.0, 0)(img, torch.tensor([[0.0, 3, 4, 5, 4]]))
    assert out.shape == (1, 1, 7, 7) and (out == 0).all()
    out.sum().backward()
    assert torch.equal(img.grad, torch.zeros_like(img))


def test_empty_batch_and_functional_form():
    out = ROIAlign((7, 7), 1.0, 0)(torch.zeros(0, 3, 10, 10), torch.zeros(0, 5))
    assert out.shape == (0, 3, 7, 7)
    x = torch.rand(2, 3, 12, 12)
    rois = torch.tensor([[1.0, 2, 2, 9, 10]])
    torch.testing.assert_close(roi_align(x, rois, 7, 0.5, 2, True), ROIAlign(7, 0.5, 2)(x, rois))
