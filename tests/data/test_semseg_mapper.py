"""MaskFormerSemanticDatasetMapper: per-class targets, padding, label conventions, errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from det.data import transforms as T
from det.data.augmentation_recipes import build_mmseg_semseg_augmentation
from det.data.dataset_mapper import DatasetMapper
from det.data.semseg_mapper import MaskFormerSemanticDatasetMapper

H, W = 40, 50


def _labels():
    label = np.zeros((H, W), np.uint8)
    label[10:30, 5:25] = 5
    label[:, 40:] = 2
    label[:3] = 255
    return label


def _write(tmp_path, label, image_size=(H, W)):
    img = np.zeros((*image_size, 3), np.uint8)
    img[..., 0] = 10
    if label.shape == image_size:
        img[label == 5] = (250, 10, 10)
    img_path, gt_path = str(tmp_path / "img.jpg"), str(tmp_path / "gt.png")
    Image.fromarray(img).save(img_path, quality=100)
    Image.fromarray(label).save(gt_path)
    return {"file_name": img_path, "sem_seg_file_name": gt_path}


def test_targets_and_padding(tmp_path):
    record = _write(tmp_path, _labels())
    mapper = MaskFormerSemanticDatasetMapper(
        True, augmentations=[], image_format="RGB", size_divisibility=32, num_classes=6
    )
    out = mapper(record)
    assert out["image"].shape == (3, 64, 64) and out["image"].dtype == torch.uint8
    assert (out["image"][:, H:] == 128).all() and (out["image"][:, :, W:] == 128).all()
    sem = out["sem_seg"]
    assert sem.dtype == torch.int64 and sem.shape == (64, 64)
    np.testing.assert_array_equal(sem[:H, :W].numpy(), _labels())
    assert (sem[H:] == 255).all() and (sem[:, W:] == 255).all()
    inst = out["instances"]
    assert inst.gt_classes.tolist() == [0, 2, 5]
    assert inst.gt_masks.dtype == torch.bool and inst.gt_masks.shape == (3, 64, 64)
    for k, c in enumerate([0, 2, 5]):
        assert torch.equal(inst.gt_masks[k], sem == c)
    assert (out["height"], out["width"]) == (H, W)
    assert "sem_seg_file_name" not in out


def test_reduce_zero_label_records(tmp_path):
    raw = _labels().copy()
    raw[raw == 255] = 0  # ADE raw: 0 = "other" -> ignore, k -> k - 1
    record = dict(_write(tmp_path, raw), reduce_zero_label=True)
    out = MaskFormerSemanticDatasetMapper(True, augmentations=[], image_format="RGB")(record)
    expected = np.where(raw == 0, 255, raw.astype(int) - 1)
    np.testing.assert_array_equal(out["sem_seg"].numpy(), expected)
    assert out["instances"].gt_classes.tolist() == [1, 4]


def test_all_ignored_gives_empty_masks(tmp_path):
    record = _write(tmp_path, np.full((H, W), 255, np.uint8))
    out = MaskFormerSemanticDatasetMapper(True, augmentations=[], image_format="RGB")(record)
    assert out["instances"].gt_masks.shape == (0, H, W)
    assert out["instances"].gt_classes.shape == (0,)


def test_augmented_targets_stay_aligned(tmp_path):
    record = _write(tmp_path, _labels())
    mapper = MaskFormerSemanticDatasetMapper(
        True, augmentations=build_mmseg_semseg_augmentation(24), image_format="RGB"
    )
    for seed in range(6):
        np.random.seed(seed)
        out = mapper(record)
        sem, img = out["sem_seg"], out["image"]
        assert img.shape[1:] == sem.shape and max(sem.shape) <= 24
        for c, m in zip(out["instances"].gt_classes.tolist(), out["instances"].gt_masks):
            assert torch.equal(m, sem == c)
        # Red pixels (class 5) stay under label 5, up to resampling at the boundary.
        red = (img[0] > 150) & (img[1] < 100)
        if red.sum() > 20:
            assert (sem[red] == 5).float().mean() > 0.9


def test_errors_name_the_label_file(tmp_path):
    record = _write(tmp_path, _labels(), image_size=(H + 1, W))
    mapper = MaskFormerSemanticDatasetMapper(True, augmentations=[], image_format="RGB")
    with pytest.raises(ValueError, match="gt.png.*size"):
        mapper(record)
    record = _write(tmp_path, _labels())
    strict = MaskFormerSemanticDatasetMapper(
        True, augmentations=[], image_format="RGB", num_classes=5
    )
    with pytest.raises(ValueError, match=r"gt.png.*\[5\] outside \[0, 5\)"):
        strict(record)
    with pytest.raises(ValueError, match="DatasetMapper"):
        MaskFormerSemanticDatasetMapper(False, augmentations=[], image_format="RGB")


def test_dataset_mapper_training_reads_sem_seg(tmp_path):
    record = _write(tmp_path, _labels())
    out = DatasetMapper(True, augmentations=[T.RandomFlip(prob=1.0)], image_format="RGB")(record)
    np.testing.assert_array_equal(out["sem_seg"].numpy(), _labels()[:, ::-1])


def test_semseg_configs():
    import os

    from det.config import LazyConfig, instantiate

    cfg_dir = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "common", "data")
    cfg = LazyConfig.load(os.path.join(cfg_dir, "ade20k_semseg.py"))
    LazyConfig.apply_overrides(cfg, ["dataloader.train.mapper.augmentations.crop_size=640"])
    train = cfg.dataloader.train
    assert train.dataset.names == "ade20k_sem_seg_train" and train.mapper.num_classes == 150
    augs = instantiate(train.mapper.augmentations)
    assert [type(a).__name__ for a in augs] == [
        "ResizeRatioRange",
        "RandomCrop_CategoryAreaConstraint",
        "RandomFlip",
        "PhotometricDistortion",
    ]
    assert augs[0].scale == (2560, 640) and augs[0].ratio_range == (0.5, 2.0)
    assert augs[1].crop_size == (640, 640) and augs[1].single_category_max_area == 0.75
    assert augs[3].image_format == "RGB"
    test_augs = instantiate(cfg.dataloader.test.mapper.augmentations)
    assert test_augs[0].short_edge_length == (640, 640) and test_augs[0].max_size == 2560
    assert test_augs[1].size_divisor == 32
    assert cfg.dataloader.evaluator.dataset_name == "ade20k_sem_seg_val"

    stuff = LazyConfig.load(os.path.join(cfg_dir, "coco_stuff_semseg.py"))
    assert stuff.dataloader.train.mapper.num_classes == 171
    assert stuff.dataloader.evaluator.dataset_name == "coco_2017_val_stuff_sem_seg"


def test_ade20k_config_loaders_on_synthetic_data(tmp_path, monkeypatch):
    import itertools
    import os

    from det.config import LazyConfig, instantiate
    from det.data.datasets import get_datasets_root, register_all_ade20k, write_synthetic_ade20k
    from det.utils import comm

    monkeypatch.setattr(comm, "get_world_size", lambda: 1)
    monkeypatch.setattr(comm, "get_rank", lambda: 0)
    for split in ("training", "validation"):
        write_synthetic_ade20k(str(tmp_path), split, num_images=3, image_size=(48, 64))
    register_all_ade20k(str(tmp_path))
    try:
        cfg_dir = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "common", "data")
        cfg = LazyConfig.load(os.path.join(cfg_dir, "ade20k_semseg.py"))
        LazyConfig.apply_overrides(
            cfg,
            [
                "dataloader.train.mapper.augmentations.crop_size=32",
                "dataloader.train.total_batch_size=2",
                "dataloader.train.num_workers=0",
                "dataloader.test.num_workers=0",
            ],
        )
        np.random.seed(0)
        for batch in itertools.islice(iter(instantiate(cfg.dataloader.train)), 3):
            for d in batch:
                sem = d["sem_seg"]
                assert max(sem.shape) <= 32 and d["image"].shape[1:] == sem.shape
                valid = sem[sem != 255]
                assert (valid >= 0).all() and (valid < 150).all()  # reduce_zero_label applied
                inst = d["instances"]
                for c, m in zip(inst.gt_classes.tolist(), inst.gt_masks):
                    assert torch.equal(m, sem == c)
        test_batches = list(instantiate(cfg.dataloader.test))
        assert len(test_batches) == 3
        for (d,) in test_batches:
            h, w = d["image"].shape[1:]
            assert h % 32 == 0 and w % 32 == 0 and (d["height"], d["width"]) == (48, 64)
            assert d["sem_seg_file_name"].endswith(".png")
    finally:
        register_all_ade20k(get_datasets_root())
