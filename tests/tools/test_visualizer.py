"""det.utils.visualizer: what is drawn lands where the objects are, and only there."""

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch

from det.data.catalog import Metadata
from det.structures import BitMasks, Boxes, Instances, PolygonMasks
from det.utils.visualizer import Visualizer

H, W = 64, 80
GRAY = 120


def _image():
    return np.full((H, W, 3), GRAY, dtype=np.uint8)


def _changed(out: np.ndarray) -> np.ndarray:
    return np.any(out[:H, :W].astype(int) != GRAY, axis=2)


def _meta():
    return Metadata(
        name="vis_test",
        thing_classes=["a", "b"],
        thing_colors=[(255, 0, 0), (0, 0, 255)],
        stuff_classes=["sky", "road", "tree"],
        stuff_colors=[(0, 200, 255), (90, 90, 90), (0, 160, 0)],
    )


def test_instances_drawn_inside_boxes_only():
    inst = Instances((H, W))
    inst.pred_boxes = Boxes(torch.tensor([[40.0, 30.0, 70.0, 60.0]]))
    inst.scores = torch.tensor([0.9])
    inst.pred_classes = torch.tensor([1])
    masks = torch.zeros(1, H, W, dtype=torch.bool)
    masks[0, 35:55, 45:65] = True
    inst.pred_masks = masks
    out = Visualizer(_image(), _meta()).draw_instance_predictions(inst).get_image()
    assert out.shape == (H, W, 3)
    changed = _changed(out)
    # The mask interior is tinted toward the class color (blue), the far corner is untouched.
    inside = out[45, 55].astype(int)
    assert inside[2] > GRAY and inside[0] < GRAY
    assert not changed[:20, :30].any()
    # The label "b 90%" sits above the box (rows < 30) starting at its left edge.
    assert changed[15:30, 40:60].any()


def test_instances_without_metadata_and_empty():
    inst = Instances((H, W))
    inst.pred_boxes = Boxes(torch.zeros(0, 4))
    inst.scores = torch.zeros(0)
    inst.pred_classes = torch.zeros(0, dtype=torch.int64)
    out = Visualizer(_image()).draw_instance_predictions(inst).get_image()
    assert (out == GRAY).all()


def test_ground_truth_polygons_and_bitmasks_agree():
    poly = [[np.array([10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0])]]
    bit = np.zeros((1, H, W), dtype=bool)
    bit[0, 10:30, 10:30] = True
    outs = []
    for masks in (PolygonMasks(poly), BitMasks(torch.from_numpy(bit))):
        inst = Instances((H, W), gt_classes=torch.tensor([0]), gt_masks=masks)
        outs.append(Visualizer(_image(), _meta()).draw_ground_truth_instances(inst).get_image())
    # Polygon rasterization may differ on the border pixels only.
    assert (_changed(outs[0]) != _changed(outs[1])).sum() < 4 * 20
    assert _changed(outs[0])[15:25, 15:25].all()


def test_sem_seg_colors_regions_and_appends_legend():
    labels = np.full((H, W), 255, dtype=np.int64)
    labels[:, :40] = 0
    labels[:32, 40:] = 2
    out = Visualizer(_image(), _meta()).draw_sem_seg(labels).get_image()
    assert out.shape[0] == H and out.shape[1] > W  # legend panel on the right
    changed = _changed(out)
    assert changed[:, :40].mean() > 0.9
    assert not changed[40:, 45:].any()  # ignore label (255) is not drawn
    legend = out[:, W:]
    assert (legend != 255).any()


def test_sem_seg_scores_and_size_check():
    scores = torch.zeros(3, H, W)
    scores[1] = 1.0
    out = Visualizer(_image(), _meta()).draw_sem_seg(scores, legend=False).get_image()
    assert out.shape == (H, W, 3)
    road = np.array(_meta().stuff_colors[1])
    # Everything is "road": the overlay moves every pixel toward the road color.
    assert np.abs(out[5, 5].astype(int) - road).sum() <= np.abs(GRAY - road).sum()
    with pytest.raises(ValueError, match="label map"):
        Visualizer(_image()).draw_sem_seg(np.zeros((H + 1, W), dtype=np.int64))


def test_dataset_dict_polygon_rle_and_crowd():
    rle_mask = np.zeros((H, W), dtype=np.uint8)
    rle_mask[40:60, 50:75] = 1
    rle = mask_util.encode(np.asfortranarray(rle_mask))
    rle["counts"] = rle["counts"].decode()
    dic = {
        "annotations": [
            {
                "bbox": [5, 5, 20, 20],
                "bbox_mode": 1,
                "category_id": 0,
                "segmentation": [[5, 5, 25, 5, 25, 25, 5, 25]],
                "iscrowd": 0,
            },
            {
                "bbox": [50, 40, 25, 20],
                "bbox_mode": 1,
                "category_id": 1,
                "segmentation": rle,
                "iscrowd": 1,
            },
        ]
    }
    out = Visualizer(_image(), _meta(), scale=2.0).draw_dataset_dict(dic).get_image()
    assert out.shape == (2 * H, 2 * W, 3)
    changed = np.any(out.astype(int) != GRAY, axis=2)
    assert changed[2 * 10 : 2 * 20, 2 * 10 : 2 * 20].all()
    assert changed[2 * 45 : 2 * 55, 2 * 55 : 2 * 70].all()
    assert not changed[2 * 42 :, : 2 * 40].any()
