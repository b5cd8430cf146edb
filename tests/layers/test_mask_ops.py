import importlib

import numpy as np
import torch

from det.layers import paste_masks_in_image
from det.structures import Boxes

mask_ops = importlib.import_module("det.layers.mask_ops")


def _paste_reference(mask, box, height, width):
    """Bilinear resampling of an M x M mask into a box, zero outside, one pixel at a time.

    Image pixel (y, x) has its center at (x + 0.5, y + 0.5); the mask's M cells tile the box,
    cell i centered at box-relative (i + 0.5) / M. Samples between the outer cell centers and
    the box edge interpolate towards 0 (the zero padding of grid_sample).
    """
    m = mask.shape[0]
    x0, y0, x1, y1 = box
    padded = np.zeros((m + 2, m + 2))
    padded[1:-1, 1:-1] = mask
    out = np.zeros((height, width))
    for y in range(height):
        v = (y + 0.5 - y0) / (y1 - y0) * m - 0.5  # mask row coordinate
        for x in range(width):
            u = (x + 0.5 - x0) / (x1 - x0) * m - 0.5
            if not (-1 < u < m and -1 < v < m):
                continue
            c0, r0 = int(np.floor(u)), int(np.floor(v))
            fu, fv = u - c0, v - r0
            p = lambda r, c: padded[r + 1, c + 1]  # noqa: E731
            out[y, x] = (
                p(r0, c0) * (1 - fu) * (1 - fv)
                + p(r0, c0 + 1) * fu * (1 - fv)
                + p(r0 + 1, c0) * (1 - fu) * fv
                + p(r0 + 1, c0 + 1) * fu * fv
            )
    return out


def test_hand_computed_box():
    # A 2x2 all-ones mask in box [2, 2, 6, 6]: pixel centers 2.5..5.5 are inside the box.
    # At x = 2.5 the sample sits a quarter cell outside the first cell center: 0.75 >= 0.5;
    # at x = 1.5 it is 0.25.
    out = paste_masks_in_image(torch.ones(1, 2, 2), torch.tensor([[2.0, 2, 6, 6]]), (8, 8))
    expected = torch.zeros(1, 8, 8, dtype=torch.bool)
    expected[0, 2:6, 2:6] = True
    assert out.dtype == torch.bool
    assert torch.equal(out, expected)


def test_matches_numpy_reference():
    rng = np.random.default_rng(0)
    masks = rng.uniform(0, 1, (4, 6, 6)).astype(np.float32)
    boxes = np.array(
        [[3.2, 4.7, 20.1, 15.3], [0.0, 0.0, 30.0, 25.0], [-5.0, 10.0, 8.0, 40.0], [12, 2, 13.5, 4]],
        dtype=np.float32,
    )
    h, w = 24, 28
    expected = np.stack([_paste_reference(m, b, h, w) for m, b in zip(masks, boxes)])
    # Soft values before thresholding, CPU path (one mask at a time). As in detectron2 it only
    # computes the box's pixels plus one: beyond that the true values (half a mask cell of
    # fading into the zero padding) are all < 0.5 and cannot change a thresholded mask.
    for i in range(4):
        soft, spatial = mask_ops._do_paste_mask(
            torch.from_numpy(masks[i : i + 1])[:, None],
            torch.from_numpy(boxes[i : i + 1]),
            h,
            w,
            skip_empty=True,
        )
        np.testing.assert_allclose(soft[0].numpy(), expected[i][spatial], atol=1e-5)
        outside = np.ones((h, w), dtype=bool)
        outside[spatial] = False
        assert (expected[i][outside] < 0.5).all()
    # The GPU path pastes whole images at once and matches everywhere.
    soft, spatial = mask_ops._do_paste_mask(
        torch.from_numpy(masks)[:, None], torch.from_numpy(boxes), h, w, skip_empty=False
    )
    assert spatial == ()
    np.testing.assert_allclose(soft.numpy(), expected, atol=1e-5)

    out = paste_masks_in_image(torch.from_numpy(masks), Boxes(torch.from_numpy(boxes)), (h, w))
    assert out.shape == (4, h, w)
    decided = np.abs(expected - 0.5) > 1e-4  # skip pixels within rounding of the threshold
    np.testing.assert_array_equal(out.numpy()[decided], (expected >= 0.5)[decided])

    soft = paste_masks_in_image(torch.from_numpy(masks), torch.from_numpy(boxes), (h, w), -1)
    assert soft.dtype == torch.uint8
    # uint8 cast truncates: 255 * value rounded down.
    np.testing.assert_array_equal(
        soft.numpy()[:, 12:15, 10:12],
        np.floor(expected[:, 12:15, 10:12] * 255 + 1e-4).astype(np.uint8),
    )


def test_empty():
    out = paste_masks_in_image(torch.zeros(0, 28, 28), torch.zeros(0, 4), (10, 12))
    assert out.shape == (0, 10, 12) and out.dtype == torch.bool
