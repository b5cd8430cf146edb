import importlib

import numpy as np
import torch

from det.data.datasets.synthetic_scenes import draw_instance_scene, scene_rng
from det.layers import paste_masks_in_image
from det.structures import BitMasks, Boxes, BoxMode, PolygonMasks, polygons_to_bitmask

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


def test_pad_masks_and_scale_boxes_by_hand():
    masks = torch.arange(8, dtype=torch.float32).reshape(2, 2, 2) + 1
    padded, scale = mask_ops.pad_masks(masks, 1)
    assert padded.shape == (2, 4, 4) and padded.dtype == masks.dtype
    assert scale == 2.0  # (2 + 2 * 1) / 2
    assert torch.equal(padded[:, 1:3, 1:3], masks)
    assert padded.sum() == masks.sum()  # the border is all zeros
    bool_padded, scale = mask_ops.pad_masks(torch.ones(1, 4, 4, dtype=torch.bool), 2)
    assert bool_padded.dtype == torch.bool and scale == 2.0 and bool_padded.sum() == 16

    # Box [2, 4, 6, 10]: center (4, 7), size 4 x 6 -> doubled 8 x 12 about the same center.
    scaled = mask_ops.scale_boxes(torch.tensor([[2.0, 4.0, 6.0, 10.0]]), 2.0)
    assert torch.equal(scaled, torch.tensor([[0.0, 1.0, 8.0, 13.0]]))


def test_paste_mask_in_image_old_by_hand():
    # Box [1.7, 2.2, 4.9, 5.6] truncates to pixels x 1..4, y 2..5 (inclusive): 4 x 4 samples.
    out = mask_ops.paste_mask_in_image_old(
        torch.ones(3, 3), torch.tensor([1.7, 2.2, 4.9, 5.6]), 8, 7, threshold=0.5
    )
    expected = torch.zeros(8, 7, dtype=torch.uint8)
    expected[2:6, 1:5] = 1
    assert out.dtype == torch.uint8 and torch.equal(out, expected)
    # A box past the image border is cut at the border.
    out = mask_ops.paste_mask_in_image_old(
        torch.ones(2, 2), torch.tensor([-2.0, 5.0, 3.0, 9.0]), 8, 7, threshold=0.5
    )
    expected = torch.zeros(8, 7, dtype=torch.uint8)
    expected[5:8, 0:4] = 1
    assert torch.equal(out, expected)
    soft = mask_ops.paste_mask_in_image_old(
        torch.full((2, 2), 0.5), torch.tensor([0.0, 0.0, 3.0, 3.0]), 4, 4, threshold=-1
    )
    assert soft.dtype == torch.uint8 and (soft == 127).all()  # int(0.5 * 255)


def _iou(a, b):
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    return (a & b).sum() / (a | b).sum()


def test_crop_then_paste_reconstructs_synthetic_objects():
    # detectron2 checks on COCO val that rasterizing a polygon into its box (training targets)
    # and pasting it back (inference) are near-inverse (IoU > 0.94 polygon, > 0.95 roialign).
    # Here the objects are drawn shapes of det's synthetic scenes, so no download is needed.
    height, width, ious = 96, 128, {"polygon": [], "roialign": [], "old": []}
    for index in range(6):
        rng = scene_rng(0, "coco", "val", index)
        _, objects = draw_instance_scene(rng, height, width, 3, [(200, 0, 0)] * 3, max_objects=3)
        for obj in objects:
            polys = [np.asarray(p, dtype=np.float64) for p in obj.polygons]
            full = polygons_to_bitmask(polys, height, width)
            box_xywh = obj.bbox_xywh()
            box = torch.tensor([BoxMode.convert(box_xywh, BoxMode.XYWH_ABS, BoxMode.XYXY_ABS)])
            crops = {
                "polygon": PolygonMasks([polys]).crop_and_resize(box, 28)[0],
                "roialign": BitMasks(torch.from_numpy(full[None])).crop_and_resize(box, 28)[0],
            }
            for name, crop in crops.items():
                pasted = paste_masks_in_image(crop[None].float(), Boxes(box), (height, width))[0]
                ious[name].append(_iou(pasted.numpy(), full))
            padded, scale = mask_ops.pad_masks(crops["polygon"][None].float(), 1)
            old = mask_ops.paste_mask_in_image_old(
                padded[0], mask_ops.scale_boxes(box, scale)[0], height, width, 0.5
            )
            ious["old"].append(_iou(old.numpy(), full))
    assert len(ious["polygon"]) >= 6
    assert np.mean(ious["polygon"]) > 0.94
    assert np.mean(ious["roialign"]) > 0.95
    # The legacy paste is half a pixel off, so it reconstructs worse than the aligned paste.
    assert 0.6 < np.mean(ious["old"]) < np.mean(ious["polygon"])
