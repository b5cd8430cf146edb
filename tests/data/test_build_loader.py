"""Loaders: serialized dataset lists, mapping with retries, per-rank batches with 2 ranks."""

import itertools
import math
import os
import pickle

import numpy as np
import pytest
import torch

from det.config import LazyConfig, instantiate
from det.data.build import (
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from det.data.catalog import DatasetCatalog, MetadataCatalog
from det.data.common import AspectRatioGroupedDataset, DatasetFromList, MapDataset
from det.data.samplers import TrainingSampler
from det.utils import comm

CONFIG_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "common", "data")


def _as_rank(monkeypatch, rank, world):
    monkeypatch.setattr(comm, "get_rank", lambda: rank)
    monkeypatch.setattr(comm, "get_world_size", lambda: world)


def _dicts(n=12):
    # Even ids are landscape, odd ids portrait.
    return [
        {
            "image_id": i,
            "width": 40 if i % 2 == 0 else 20,
            "height": 20 if i % 2 == 0 else 40,
            "annotations": [{"category_id": i % 3, "bbox": np.arange(4.0) + i, "iscrowd": 0}],
        }
        for i in range(n)
    ]


def _mapper(d):
    return {"image_id": d["image_id"], "width": d["width"], "height": d["height"]}


def test_dataset_from_list_serialization_round_trip():
    lst = _dicts(5)
    ds = DatasetFromList(lst, copy=True, serialize=True)
    assert len(ds) == 5
    for i in range(5):
        got = ds[i]
        assert got["image_id"] == lst[i]["image_id"]
        np.testing.assert_array_equal(
            got["annotations"][0]["bbox"], lst[i]["annotations"][0]["bbox"]
        )
    assert ds[-1]["image_id"] == 4
    # Returned items are fresh objects: editing one does not change the dataset.
    ds[0]["annotations"].clear()
    assert len(ds[0]["annotations"]) == 1
    # One buffer, not a list of Python objects; picklable for spawn-started workers.
    assert isinstance(ds._lst._buffer, torch.Tensor) and ds._lst._buffer.dtype == torch.uint8
    clone = pickle.loads(pickle.dumps(ds))
    assert [clone[i]["image_id"] for i in range(5)] == list(range(5))
    with pytest.raises(IndexError):
        ds[5]


def test_dataset_from_list_without_serialization_copies():
    lst = _dicts(2)
    ds = DatasetFromList(lst, copy=True, serialize=False)
    ds[0]["annotations"].clear()
    assert len(lst[0]["annotations"]) == 1
    assert DatasetFromList(lst, copy=False, serialize=False)[1] is lst[1]


def test_map_dataset_retries_none_and_names_file_on_error():
    base = DatasetFromList([{"file_name": f"img{i}.jpg", "i": i} for i in range(4)])

    def drop_two(d):
        return None if d["i"] == 2 else d["i"]

    mapped = MapDataset(base, drop_two)
    assert mapped[0] == 0
    assert mapped[2] in (0, 1, 3)  # falls back to another index

    def fail(d):
        raise OSError("truncated")

    with pytest.raises(OSError) as info:
        MapDataset(base, fail)[3]
    assert "img3.jpg" in "\n".join(getattr(info.value, "__notes__", []))


def test_aspect_ratio_grouping():
    batches = list(AspectRatioGroupedDataset(_dicts(12), batch_size=2))
    assert len(batches) == 6
    for b in batches:
        assert len({d["width"] > d["height"] for d in b}) == 1


@pytest.mark.parametrize("grouping", [False, True])
def test_train_loader_per_rank_batches_with_two_ranks(monkeypatch, grouping):
    dicts = _dicts(12)
    _as_rank(monkeypatch, 0, 1)
    stream = list(itertools.islice(iter(TrainingSampler(12, seed=42)), 48))
    per_rank = []
    for rank in range(2):
        _as_rank(monkeypatch, rank, 2)
        loader = build_detection_train_loader(
            dicts,
            mapper=_mapper,
            sampler=TrainingSampler(12, seed=42),
            total_batch_size=4,
            aspect_ratio_grouping=grouping,
        )
        batches = list(itertools.islice(iter(loader), 5))
        assert all(len(b) == 2 for b in batches)  # 4 images over 2 ranks
        per_rank.append([d["image_id"] for b in batches for d in b])
        if grouping:
            assert all(len({d["width"] > d["height"] for d in b}) == 1 for b in batches)
    if not grouping:
        assert per_rank[0] == stream[0::2][:10] and per_rank[1] == stream[1::2][:10]
    else:
        # Grouping reorders within the rank's own stream only.
        for rank in range(2):
            assert set(per_rank[rank]) <= set(stream[rank::2][:24])


def test_train_loader_with_workers(monkeypatch):
    _as_rank(monkeypatch, 0, 1)
    loader = build_detection_train_loader(
        _dicts(12),
        mapper=_mapper,
        sampler=TrainingSampler(12, seed=1, shuffle=False),
        total_batch_size=2,
        aspect_ratio_grouping=False,
        num_workers=2,
    )
    ids = [d["image_id"] for b in itertools.islice(iter(loader), 6) for d in b]
    assert sorted(ids) == list(range(12))  # workers split the stream without duplicates


def test_train_loader_rejects_indivisible_batch(monkeypatch):
    _as_rank(monkeypatch, 0, 4)
    with pytest.raises(ValueError, match=r"total_batch_size \(6\).*world size \(4\)"):
        build_detection_train_loader(_dicts(4), mapper=_mapper, total_batch_size=6)


def test_test_loader_covers_each_image_once_over_two_ranks(monkeypatch):
    seen = []
    for rank in range(2):
        _as_rank(monkeypatch, rank, 2)
        loader = build_detection_test_loader(_dicts(5), mapper=_mapper)
        batches = list(loader)
        assert all(len(b) == 1 for b in batches)
        seen += [b[0]["image_id"] for b in batches]
    assert seen == list(range(5))


@pytest.fixture
def toy_datasets():
    names = ["_toy_build_a", "_toy_build_b"]
    crowd_only = {"image_id": 100, "annotations": [{"category_id": 0, "iscrowd": 1}]}
    empty = {"image_id": 101, "annotations": []}
    DatasetCatalog.register(names[0], lambda: _dicts(4) + [crowd_only, empty])
    DatasetCatalog.register(names[1], lambda: _dicts(3))
    for n in names:
        MetadataCatalog.get(n).set(thing_classes=["a", "b", "c"])
    yield names
    for n in names:
        DatasetCatalog.remove(n)
        MetadataCatalog.remove(n)


def test_get_detection_dataset_dicts(toy_datasets):
    a, b = toy_datasets
    assert len(get_detection_dataset_dicts(a)) == 4  # crowd-only and empty images dropped
    assert len(get_detection_dataset_dicts(a, filter_empty=False)) == 6
    assert len(get_detection_dataset_dicts([a, b])) == 7
    with pytest.raises(KeyError, match="not registered"):
        get_detection_dataset_dicts("_no_such_dataset")


def test_lvis_config_sampler_uses_the_train_dataset(toy_datasets, monkeypatch):
    _as_rank(monkeypatch, 0, 1)
    cfg = LazyConfig.load(os.path.join(CONFIG_DIR, "lvis_lsj.py"))
    cfg.dataloader.train.dataset.names = toy_datasets[0]
    sampler = instantiate(cfg.dataloader.train.sampler)
    # 4 images; categories 0, 1, 2, 0 -> f = 0.5, 0.25, 0.25; sqrt(0.001 / f) < 1 -> all 1.
    total = sampler._int_part + sampler._frac_part
    assert total.tolist() == [1.0] * 4
    cfg.dataloader.train.sampler.repeat_factors.repeat_thresh = 1.0
    total = instantiate(cfg.dataloader.train.sampler)
    r = total._int_part + total._frac_part
    torch.testing.assert_close(r, torch.tensor([math.sqrt(2), 2.0, 2.0, math.sqrt(2)]))


def test_lsj_config_loaders_on_synthetic_coco(tmp_path, monkeypatch):
    from det.data.datasets import register_synthetic_coco
    from det.structures import BitMasks, PolygonMasks

    _as_rank(monkeypatch, 0, 1)
    name = "_synthetic_coco_for_loader_test"
    register_synthetic_coco(name, str(tmp_path), num_images=6, image_size=(96, 128))
    try:
        cfg = LazyConfig.load(os.path.join(CONFIG_DIR, "coco_lsj.py"))
        LazyConfig.apply_overrides(
            cfg,
            [
                f"dataloader.train.dataset.names={name}",
                f"dataloader.test.dataset.names={name}",
                "dataloader.train.mapper.augmentations.image_size=64",
                "dataloader.train.total_batch_size=2",
                "dataloader.train.num_workers=0",
                "dataloader.test.num_workers=0",
            ],
        )
        np.random.seed(0)
        train = instantiate(cfg.dataloader.train)
        for batch in itertools.islice(iter(train), 4):
            assert len(batch) == 2
            for d in batch:
                assert d["image"].dtype == torch.uint8 and d["image"].shape[0] == 3
                h, w = d["image"].shape[1:]
                assert h <= 64 and w <= 64
                inst = d["instances"]
                assert isinstance(inst.gt_masks, (BitMasks, PolygonMasks))
                assert (inst.gt_classes >= 0).all() and (inst.gt_classes < 3).all()
                boxes = inst.gt_boxes.tensor
                assert (boxes[:, 2:] > boxes[:, :2]).all()
                assert (boxes >= 0).all() and (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
                # recompute_boxes: boxes are the tight boxes of the masks.
                torch.testing.assert_close(boxes, inst.gt_masks.get_bounding_boxes().tensor)
        test = instantiate(cfg.dataloader.test)
        batches = list(test)
        assert len(batches) == 6 and all(len(b) == 1 for b in batches)
        assert all(max(b[0]["image"].shape[1:]) == 64 for b in batches)  # long side = image_size
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
