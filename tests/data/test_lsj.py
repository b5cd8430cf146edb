"""LSJ (EVA-02 spec 4.2) with fixed seeds against the spec's formulas, and the LSJ configs."""

import os

import numpy as np
import pytest

from det.config import LazyConfig, instantiate
from det.data import transforms as T
from det.data.augmentation_recipes import build_lsj_augmentation, build_lsj_test_augmentation

CONFIG_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "common", "data")


def _expected_lsj(h, w, size, seed):
    """The spec: flip if U < 0.5; s ~ U(0.1, 2); scale = min(s*S/h, s*S/w); new = round(hw*scale);
    one u ~ U(0, 1) for both axes; offset = round(max(0, new - S) * u)."""
    rng = np.random.RandomState(seed)
    flip = rng.uniform(0.0, 1.0) < 0.5
    s = rng.uniform(0.1, 2.0)
    scale = min(s * size / h, s * size / w)
    new_h, new_w = round(h * scale), round(w * scale)
    u = rng.uniform(0.0, 1.0)
    off_y, off_x = round(max(0, new_h - size) * u), round(max(0, new_w - size) * u)
    return flip, (new_h, new_w), (off_y, off_x)


@pytest.mark.parametrize("shape", [(300, 200), (150, 420), (64, 64)])
def test_lsj_matches_spec_formula(shape):
    h, w = shape
    size = 128
    image = np.random.RandomState(0).randint(0, 255, size=(h, w, 3)).astype(np.uint8)
    seen_flip = set()
    for seed in range(25):
        flip, (new_h, new_w), (off_y, off_x) = _expected_lsj(h, w, size, seed)
        np.random.seed(seed)
        aug_input = T.AugInput(image)
        tfms = list(T.AugmentationList(build_lsj_augmentation(size))(aug_input))
        flips = [t for t in tfms if isinstance(t, T.HFlipTransform)]
        assert bool(flips) == flip
        seen_flip.add(flip)
        (resize,) = [t for t in tfms if isinstance(t, T.ResizeTransform)]
        assert (resize.new_h, resize.new_w) == (new_h, new_w)
        (crop,) = [t for t in tfms if isinstance(t, T.CropTransform)]
        assert (crop.y0, crop.x0) == (off_y, off_x)
        assert not any(isinstance(t, T.PadTransform) for t in tfms)  # pad=False
        assert aug_input.image.shape == (min(size, new_h), min(size, new_w), 3)
    assert seen_flip == {True, False}


def test_lsj_single_uniform_for_both_axes():
    # A 400x400 image scaled by ~2 leaves margins on both axes; with one shared u the offsets
    # are proportional to the margins.
    image = np.zeros((400, 400, 3), np.uint8)
    for seed in range(10):
        np.random.seed(seed)
        tfms = T.AugmentationList([T.ResizeScale(2.0, 2.0, 100, 160), T.FixedSizeCrop((100, 160))])(
            T.AugInput(image)
        )
        crop = [t for t in tfms if isinstance(t, T.CropTransform)][0]
        # scale = min(200/400, 320/400) = 0.5 -> 200x200; margins (100, 40)
        np.random.seed(seed)
        np.random.uniform(2.0, 2.0)
        u = np.random.uniform(0.0, 1.0)
        assert (crop.y0, crop.x0) == (round(100 * u), round(40 * u))


def test_lsj_test_resize_long_side():
    (aug,) = build_lsj_test_augmentation(1024)
    tfm = aug.get_transform(np.zeros((480, 640, 3), np.uint8))
    # Long side 640 -> 1024, short side 480 * 1.6 = 768.
    assert (tfm.new_h, tfm.new_w) == (768, 1024)
    tfm = aug.get_transform(np.zeros((333, 500, 3), np.uint8))
    assert (tfm.new_h, tfm.new_w) == (int(333 * 1024 / 500 + 0.5), 1024)


def test_lsj_configs_and_image_size_override():
    cfg = LazyConfig.load(os.path.join(CONFIG_DIR, "coco_lsj.py"))
    LazyConfig.apply_overrides(cfg, ["dataloader.train.mapper.augmentations.image_size=1536"])
    train_augs = instantiate(cfg.dataloader.train.mapper.augmentations)
    assert [type(a).__name__ for a in train_augs] == ["RandomFlip", "ResizeScale", "FixedSizeCrop"]
    assert train_augs[1].target_height == 1536 and train_augs[2].crop_size == (1536, 1536)
    assert (train_augs[1].min_scale, train_augs[1].max_scale) == (0.1, 2.0)
    assert train_augs[2].pad is False
    (test_aug,) = instantiate(cfg.dataloader.test.mapper.augmentations)
    assert test_aug.short_edge_length == (1536, 1536) and test_aug.max_size == 1536
    mapper = cfg.dataloader.train.mapper
    assert mapper.image_format == "RGB" and mapper.recompute_boxes and mapper.use_instance_mask
    assert cfg.dataloader.test.mapper.image_format == "RGB"

    o365 = LazyConfig.load(os.path.join(CONFIG_DIR, "objects365_lsj.py"))
    assert list(o365.dataloader.train.dataset.names) == ["objects365_train", "objects365_val"]
    assert not o365.dataloader.train.mapper.use_instance_mask
    assert not o365.dataloader.train.mapper.recompute_boxes
    assert o365.dataloader.test.mapper.augmentations.image_size == 1536
    assert o365.dataloader.evaluator.dataset_name == "objects365_val"

    lvis = LazyConfig.load(os.path.join(CONFIG_DIR, "lvis_lsj.py"))
    assert lvis.dataloader.evaluator.max_dets_per_image == 300
    assert lvis.dataloader.evaluator.dataset_name == "lvis_v1_val"
    assert lvis.dataloader.train.sampler.repeat_factors.repeat_thresh == 0.001
    assert lvis.dataloader.train.sampler.repeat_factors.dataset_dicts.names == "lvis_v1_train"


def test_coco_standard_config():
    cfg = LazyConfig.load(os.path.join(CONFIG_DIR, "coco.py"))
    train_augs = instantiate(cfg.dataloader.train.mapper.augmentations)
    assert train_augs[0].short_edge_length == (640, 672, 704, 736, 768, 800)
    assert train_augs[0].sample_style == "choice" and train_augs[0].max_size == 1333
    assert cfg.dataloader.train.mapper.image_format == "BGR"
    assert cfg.dataloader.test.mapper.image_format == "BGR"
    assert cfg.dataloader.test.dataset.filter_empty is False
    assert cfg.dataloader.evaluator.dataset_name == "coco_2017_val"
