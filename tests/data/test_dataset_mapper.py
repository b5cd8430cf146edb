"""DatasetMapper and detection_utils on small images written to disk."""

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from PIL import Image

from det.data import detection_utils as utils
from det.data import transforms as T
from det.data.dataset_mapper import DatasetMapper
from det.structures import BitMasks, BoxMode, PolygonMasks, polygons_to_bitmask

H, W = 48, 64
COLOR = (200, 40, 20)
# Object 1: a triangle (category 1); object 2: a rectangle (category 2); a crowd region (0).
TRIANGLE = [10.0, 10.0, 40.0, 10.0, 10.0, 40.0]
RECT = [46.0, 30.0, 60.0, 30.0, 60.0, 44.0, 46.0, 44.0]


def _write_scene(tmp_path, name="img.png"):
    img = np.full((H, W, 3), 80, np.uint8)
    img[polygons_to_bitmask([np.array(TRIANGLE)], H, W)] = COLOR
    img[polygons_to_bitmask([np.array(RECT)], H, W)] = (20, 200, 40)
    path = str(tmp_path / name)
    Image.fromarray(img).save(path)
    return path, img


def _record(path, rle_rect=False):
    rect_segm = [RECT]
    if rle_rect:
        rect_segm = mask_util.encode(
            np.asfortranarray(polygons_to_bitmask([np.array(RECT)], H, W).astype(np.uint8))
        )
    return {
        "file_name": path,
        "height": H,
        "width": W,
        "image_id": 1,
        "annotations": [
            {"bbox": [10, 10, 30, 30], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 1,
             "segmentation": [TRIANGLE], "iscrowd": 0},
            {"bbox": [46, 30, 60, 44], "bbox_mode": BoxMode.XYXY_ABS, "category_id": 2,
             "segmentation": rect_segm, "iscrowd": 0},
            {"bbox": [0, 0, 8, 8], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0,
             "segmentation": [[0, 0, 8, 0, 8, 8, 0, 8]], "iscrowd": 1},
        ],
    }  # fmt: skip


def test_train_mapping_flip_and_resize(tmp_path):
    path, img = _write_scene(tmp_path)
    record = _record(path)
    mapper = DatasetMapper(
        True,
        augmentations=[T.RandomFlip(prob=1.0), T.Resize((24, 32))],
        image_format="RGB",
        use_instance_mask=True,
    )
    out = mapper(record)
    assert record["annotations"][0]["bbox_mode"] == BoxMode.XYWH_ABS  # input untouched
    assert out["image"].dtype == torch.uint8 and out["image"].shape == (3, 24, 32)
    assert (out["height"], out["width"]) == (H, W)
    inst = out["instances"]
    assert inst.gt_classes.tolist() == [1, 2]  # crowd dropped
    # Flip x -> 64 - x, then halve: triangle box [10, 10, 40, 40] -> [12, 5, 27, 20].
    torch.testing.assert_close(
        inst.gt_boxes.tensor, torch.tensor([[12.0, 5, 27, 20], [2, 15, 9, 22]])
    )
    assert isinstance(inst.gt_masks, PolygonMasks)
    mask = polygons_to_bitmask(inst.gt_masks.polygons[0], 24, 32)
    expected = np.asarray(Image.fromarray(img).resize((32, 24), Image.BILINEAR))[:, ::-1]
    red = np.abs(expected.astype(int) - COLOR).sum(-1) < 100
    assert (mask & red).sum() / (mask | red).sum() > 0.8


def test_bitmask_format_accepts_rle_and_polygons(tmp_path):
    path, _ = _write_scene(tmp_path)
    mapper = DatasetMapper(
        True,
        augmentations=[],
        image_format="BGR",
        use_instance_mask=True,
        instance_mask_format="bitmask",
    )
    out = mapper(_record(path, rle_rect=True))
    masks = out["instances"].gt_masks
    assert isinstance(masks, BitMasks) and masks.tensor.shape == (2, H, W)
    expected = polygons_to_bitmask([np.array(RECT)], H, W)
    np.testing.assert_array_equal(masks.tensor[1].numpy(), expected)
    # BGR: the red triangle's first channel is the blue value.
    assert out["image"][0, 15, 15] == COLOR[2] and out["image"][2, 15, 15] == COLOR[0]
    # Polygon mode: an image holding an RLE object falls back to BitMasks (detectron2 raises).
    polygon_mode = DatasetMapper(True, augmentations=[], image_format="RGB", use_instance_mask=True)
    fallback = polygon_mode(_record(path, rle_rect=True))["instances"].gt_masks
    assert isinstance(fallback, BitMasks)
    assert torch.equal(fallback.tensor, masks.tensor)
    assert isinstance(polygon_mode(_record(path))["instances"].gt_masks, PolygonMasks)


def test_crop_removes_empty_instances_and_recomputes_boxes(tmp_path):
    path, _ = _write_scene(tmp_path)
    # Keep x in [0, 30), y in [0, 30): the rectangle disappears, the triangle is cut.
    crop = T.CropTransform(0, 0, 30, 30)
    loose = DatasetMapper(True, augmentations=[crop], image_format="RGB", use_instance_mask=True)
    tight = DatasetMapper(
        True, augmentations=[crop], image_format="RGB", use_instance_mask=True, recompute_boxes=True
    )
    inst_loose = loose(_record(path))["instances"]
    inst_tight = tight(_record(path))["instances"]
    assert inst_loose.gt_classes.tolist() == [1] and inst_tight.gt_classes.tolist() == [1]
    torch.testing.assert_close(inst_loose.gt_boxes.tensor, torch.tensor([[10.0, 10, 30, 30]]))
    # The triangle x + y <= 50 clipped to [0, 30]^2 still reaches (30, 20) and (20, 30).
    torch.testing.assert_close(inst_tight.gt_boxes.tensor, torch.tensor([[10.0, 10, 30, 30]]))
    # Box-only mapping (Objects365): boxes cut by the crop are clipped; masks are not produced.
    boxes_only = DatasetMapper(
        True, augmentations=[T.CropTransform(0, 0, 50, 40)], image_format="RGB"
    )
    inst = boxes_only(_record(path))["instances"]
    assert not inst.has("gt_masks")
    torch.testing.assert_close(
        inst.gt_boxes.tensor, torch.tensor([[10.0, 10, 40, 40], [46, 30, 50, 40]])
    )


def test_recompute_boxes_tightens_cut_triangle(tmp_path):
    path, _ = _write_scene(tmp_path)
    crop = T.CropTransform(0, 25, 64, 23)  # keep y in [25, 48): the triangle's narrow tip
    mapper = DatasetMapper(
        True, augmentations=[crop], image_format="RGB", use_instance_mask=True, recompute_boxes=True
    )
    boxes = mapper(_record(path))["instances"].gt_boxes.tensor
    # Triangle below y = 25: x from 10 to 50 - 25 = 25 -> tight box [10, 0, 25, 15], while the
    # transformed original box would be [10, 0, 40, 15].
    torch.testing.assert_close(boxes[0], torch.tensor([10.0, 0, 25, 15]))


def test_inference_mapping_keeps_sizes_and_drops_annotations(tmp_path):
    path, _ = _write_scene(tmp_path)
    record = dict(_record(path), sem_seg_file_name="gt.png")
    mapper = DatasetMapper(
        False, augmentations=[T.ResizeShortestEdge(24, max_size=100)], image_format="RGB"
    )
    out = mapper(record)
    assert out["image"].shape == (3, 24, 32)
    assert (out["height"], out["width"]) == (H, W)
    assert "annotations" not in out and "instances" not in out
    assert out["sem_seg_file_name"] == "gt.png"  # the evaluator reads the ground truth itself


def test_read_image_formats_and_errors(tmp_path):
    path, img = _write_scene(tmp_path)
    np.testing.assert_array_equal(utils.read_image(path, "RGB"), img)
    np.testing.assert_array_equal(utils.read_image(path, "BGR"), img[:, :, ::-1])
    assert utils.read_image(path, "L").shape == (H, W, 1)
    missing = str(tmp_path / "missing.jpg")
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        utils.read_image(missing, "RGB")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(OSError, match="corrupt.jpg"):
        utils.read_image(str(corrupt), "RGB")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(open(path, "rb").read()[:100])
    with pytest.raises(OSError, match="truncated.png"):
        utils.read_image(str(truncated), "RGB")


def test_read_image_applies_exif_orientation(tmp_path):
    img = np.zeros((10, 20, 3), np.uint8)
    img[:, :5] = 255  # left band
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = str(tmp_path / "rot.jpg")
    Image.fromarray(img).save(path, exif=exif, quality=100)
    out = utils.read_image(path, "RGB")
    assert out.shape == (20, 10, 3)
    assert out[:5].mean() > 200 and out[-5:].mean() < 50  # the left band is now on top


def test_check_image_size(tmp_path):
    record = {"file_name": "a.jpg", "width": 10, "height": 20}
    with pytest.raises(utils.SizeMismatchError, match="a.jpg"):
        utils.check_image_size(record, np.zeros((10, 20, 3)))
    record = {"file_name": "b.jpg"}
    utils.check_image_size(record, np.zeros((7, 9, 3)))
    assert (record["height"], record["width"]) == (7, 9)


def test_annotations_to_instances_empty_and_filter():
    inst = utils.annotations_to_instances([], (5, 6))
    assert len(inst) == 0 and inst.gt_boxes.tensor.shape == (0, 4)
    annos = [
        {"bbox": [1, 1, 3, 3], "bbox_mode": BoxMode.XYXY_ABS, "category_id": 0},
        {"bbox": [2, 2, 2, 4], "bbox_mode": BoxMode.XYXY_ABS, "category_id": 1},
    ]
    inst = utils.filter_empty_instances(utils.annotations_to_instances(annos, (5, 6)))
    assert inst.gt_classes.tolist() == [0]
