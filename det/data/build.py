"""Dataset-dict gathering and the train / test data loaders (config-friendly signatures).

Configs wire them with ``L(...)``, e.g.::

    dataloader.train = L(build_detection_train_loader)(
        dataset=L(get_detection_dataset_dicts)(names="coco_2017_train"),
        mapper=L(DatasetMapper)(is_train=True, augmentations=[...], image_format="RGB"),
        total_batch_size=64,
        num_workers=4,
    )
"""

from __future__ import annotations

import itertools
import logging
import operator
import pickle
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.utils.data as torchdata

from det.structures import BoxMode
from det.utils import comm
from det.utils.env import seed_all_rng

from .catalog import DatasetCatalog, MetadataCatalog
from .common import AspectRatioGroupedDataset, DatasetFromList, MapDataset, ToIterableDataset
from .samplers import InferenceSampler, TrainingSampler

__all__ = [
    "get_detection_dataset_dicts",
    "build_batch_data_loader",
    "build_detection_train_loader",
    "build_detection_test_loader",
    "trivial_batch_collator",
    "worker_init_reset_seed",
    "filter_images_with_only_crowd_annotations",
    "filter_images_with_few_keypoints",
    "load_proposals_into_dataset",
    "print_instances_class_histogram",
]

logger = logging.getLogger(__name__)


def filter_images_with_only_crowd_annotations(dataset_dicts: list[dict]) -> list[dict]:
    """Drops images that have no non-crowd annotation (nothing to learn from).

    Args:
        dataset_dicts: dicts with ``annotations``.

    Returns:
        list[dict]: the kept dicts, in order.
    """
    kept = [
        d for d in dataset_dicts if any(a.get("iscrowd", 0) == 0 for a in d.get("annotations", ()))
    ]
    logger.info(
        "Removed %d images with no usable annotations. %d images left.",
        len(dataset_dicts) - len(kept),
        len(kept),
    )
    return kept


def filter_images_with_few_keypoints(dataset_dicts: list[dict], min_keypoints: int) -> list[dict]:
    """Drops images with fewer than ``min_keypoints`` visible keypoints in total.

    Args:
        dataset_dicts: dicts whose annotations may have ``keypoints`` (x, y, v triplets).
        min_keypoints: minimum number of visible (v > 0) keypoints per image.
    """

    def visible(d: dict) -> int:
        return sum(
            int((np.asarray(a["keypoints"])[2::3] > 0).sum())
            for a in d.get("annotations", ())
            if "keypoints" in a
        )

    kept = [d for d in dataset_dicts if visible(d) >= min_keypoints]
    logger.info(
        "Removed %d images with fewer than %d keypoints.",
        len(dataset_dicts) - len(kept),
        min_keypoints,
    )
    return kept


def load_proposals_into_dataset(dataset_dicts: list[dict], proposal_file: str) -> list[dict]:
    """Attaches precomputed proposals to dataset dicts (detectron2's pickle format).

    Args:
        dataset_dicts: dicts with ``image_id``.
        proposal_file: pickle with ``ids``, ``boxes`` (XYXY per image), ``objectness_logits``
            and optionally ``bbox_mode``.

    Returns:
        list[dict]: the same dicts with ``proposal_boxes``, ``proposal_objectness_logits`` and
        ``proposal_bbox_mode`` set.
    """
    with open(proposal_file, "rb") as f:
        proposals = pickle.load(f, encoding="latin1")
    index = {str(i): k for k, i in enumerate(proposals["ids"])}
    mode = BoxMode(proposals.get("bbox_mode", BoxMode.XYXY_ABS))
    for d in dataset_dicts:
        k = index.get(str(d["image_id"]))
        if k is None:
            raise KeyError(
                f"Proposal file {proposal_file} has no proposals for image {d['image_id']}"
            )
        d["proposal_boxes"] = proposals["boxes"][k]
        d["proposal_objectness_logits"] = proposals["objectness_logits"][k]
        d["proposal_bbox_mode"] = mode
    return dataset_dicts


def print_instances_class_histogram(dataset_dicts: list[dict], class_names: Sequence[str]) -> None:
    """Logs the number of non-crowd instances per category.

    Args:
        dataset_dicts: dicts with ``annotations``.
        class_names: names indexed by contiguous category id.
    """
    counts = Counter(
        a["category_id"]
        for d in dataset_dicts
        for a in d.get("annotations", ())
        if not a.get("iscrowd", 0)
    )
    bad = [c for c in counts if not 0 <= c < len(class_names)]
    if bad:
        raise ValueError(
            f"Annotations use category ids {sorted(bad)[:10]} outside [0, {len(class_names)}); "
            "category_id must be contiguous (0..K-1)"
        )
    cells = [f"{class_names[i][:20]:<20} {counts.get(i, 0):>7}" for i in range(len(class_names))]
    per_row = 3
    rows = [" | ".join(cells[i : i + per_row]) for i in range(0, len(cells), per_row)]
    logger.info(
        "Distribution of instances among all %d categories (total %d):\n%s",
        len(class_names),
        sum(counts.values()),
        "\n".join(rows),
    )


def _check_metadata_consistency(key: str, names: Sequence[str]) -> None:
    values = [MetadataCatalog.get(n).get(key) for n in names]
    for name, value in zip(names[1:], values[1:]):
        if value != values[0]:
            raise ValueError(
                f"Metadata '{key}' of dataset '{name}' differs from that of '{names[0]}'; "
                "datasets trained together must share their classes"
            )


def get_detection_dataset_dicts(
    names: str | Sequence[str],
    filter_empty: bool = True,
    min_keypoints: int = 0,
    proposal_files: Sequence[str] | None = None,
    check_consistency: bool = True,
) -> list[dict] | torchdata.Dataset:
    """Loads and concatenates the dataset dicts of registered datasets.

    Args:
        names: one or more names registered in ``DatasetCatalog``.
        filter_empty: drop images without non-crowd annotations (detection datasets only).
        min_keypoints: drop images with fewer visible keypoints (0 keeps all).
        proposal_files: one proposal pickle per dataset, or None.
        check_consistency: check that the datasets share ``thing_classes`` and log the class
            histogram.

    Returns:
        list[dict]: the dataset dicts (or a torch Dataset when the catalog returns datasets).
    """
    if isinstance(names, str):
        names = [names]
    names = list(names)
    if not names:
        raise ValueError("get_detection_dataset_dicts: no dataset name given")
    per_dataset = [DatasetCatalog.get(n) for n in names]
    if isinstance(per_dataset[0], torchdata.Dataset):
        return per_dataset[0] if len(per_dataset) == 1 else torchdata.ConcatDataset(per_dataset)
    for name, dicts in zip(names, per_dataset):
        if len(dicts) == 0:
            raise ValueError(f"Dataset '{name}' is empty!")
    if proposal_files is not None:
        if len(proposal_files) != len(names):
            raise ValueError(
                f"{len(proposal_files)} proposal files given for {len(names)} datasets {names}"
            )
        per_dataset = [
            load_proposals_into_dataset(d, f) for d, f in zip(per_dataset, proposal_files)
        ]
    dataset_dicts = list(itertools.chain.from_iterable(per_dataset))
    has_instances = "annotations" in dataset_dicts[0]
    if filter_empty and has_instances:
        dataset_dicts = filter_images_with_only_crowd_annotations(dataset_dicts)
    if min_keypoints > 0 and has_instances:
        dataset_dicts = filter_images_with_few_keypoints(dataset_dicts, min_keypoints)
    if check_consistency and has_instances:
        class_names = MetadataCatalog.get(names[0]).get("thing_classes")
        if class_names is not None:
            _check_metadata_consistency("thing_classes", names)
            print_instances_class_histogram(dataset_dicts, class_names)
    if not dataset_dicts:
        raise ValueError(
            f"No valid data found in {', '.join(names)} (after filtering empty images)"
        )
    return dataset_dicts


def trivial_batch_collator(batch: list) -> list:
    """Returns the batch (a list of dicts) unchanged: models take lists of dicts."""
    return batch


def worker_init_reset_seed(worker_id: int) -> None:
    """Gives each data-loader worker its own NumPy / random / torch seed.

    torch seeds each worker with ``base_seed + worker_id`` (``base_seed`` drawn anew for every
    iterator), but NumPy's generator would otherwise be an identical copy in every worker, and
    augmentations draw from NumPy.
    """
    seed_all_rng((torch.initial_seed() + worker_id) % 2**31)


def _check_batch_size(total_batch_size: int) -> int:
    world_size = comm.get_world_size()
    if total_batch_size <= 0 or total_batch_size % world_size != 0:
        raise ValueError(
            f"total_batch_size ({total_batch_size}) must be a positive multiple of the world "
            f"size ({world_size}): each of the {world_size} processes loads "
            "total_batch_size / world_size images"
        )
    return total_batch_size // world_size


def _map_dataset(
    dataset: list[dict] | torchdata.Dataset,
    mapper: Callable[[dict], Any] | None,
    sampler: torchdata.Sampler | None,
    caller: str,
) -> torchdata.Dataset:
    # Dataset dicts are serialized once (DatasetFromList) so that workers share them cheaply.
    if isinstance(dataset, (list, tuple)):
        dataset = DatasetFromList(list(dataset), copy=False)
    if mapper is not None:
        dataset = MapDataset(dataset, mapper)
    if isinstance(dataset, torchdata.IterableDataset) and sampler is not None:
        raise ValueError(f"{caller}: an IterableDataset takes no sampler")
    return dataset


def build_batch_data_loader(
    dataset: torchdata.IterableDataset,
    total_batch_size: int,
    *,
    aspect_ratio_grouping: bool = False,
    num_workers: int = 0,
    collate_fn: Callable[[list], Any] | None = None,
) -> Any:
    """Batches an (infinite) iterable dataset for one rank.

    Args:
        dataset: yields mapped dataset dicts; already sharded by rank.
        total_batch_size: batch size summed over all ranks; each rank gets
            ``total_batch_size // world_size`` (must divide evenly).
        aspect_ratio_grouping: group landscape and portrait images into separate batches.
        num_workers: data-loader worker processes.
        collate_fn: applied to each batch (a list of dicts); default keeps the list.

    Returns:
        An iterable of batches (lists of ``total_batch_size // world_size`` dicts).
    """
    batch_size = _check_batch_size(total_batch_size)
    if aspect_ratio_grouping:
        # batch_size=1 + itemgetter(0) hands over each dict untouched (no tensor conversion).
        loader = torchdata.DataLoader(
            dataset,
            batch_size=1,
            collate_fn=operator.itemgetter(0),
            num_workers=num_workers,
            worker_init_fn=worker_init_reset_seed,
        )
        grouped = AspectRatioGroupedDataset(loader, batch_size)
        return grouped if collate_fn is None else MapDataset(grouped, collate_fn)
    return torchdata.DataLoader(
        dataset,
        batch_size=batch_size,
        drop_last=True,
        num_workers=num_workers,
        collate_fn=trivial_batch_collator if collate_fn is None else collate_fn,
        worker_init_fn=worker_init_reset_seed,
    )


def build_detection_train_loader(
    dataset: list[dict] | torchdata.Dataset,
    *,
    mapper: Callable[[dict], Any] | None,
    sampler: torchdata.Sampler | None = None,
    total_batch_size: int,
    aspect_ratio_grouping: bool = True,
    num_workers: int = 0,
    collate_fn: Callable[[list], Any] | None = None,
) -> Any:
    """The infinite training loader of one rank.

    Args:
        dataset: dataset dicts (serialized once with :class:`DatasetFromList`) or a torch
            Dataset; an IterableDataset must already be sharded and takes no sampler.
        mapper: maps a dataset dict to the model input dict (e.g. ``DatasetMapper``); None
            uses the elements as they are.
        sampler: yields indices for this rank; default ``TrainingSampler(len(dataset))``.
        total_batch_size: images per iteration summed over all ranks; it must be divisible by
            the world size.
        aspect_ratio_grouping: batch landscape and portrait images separately.
        num_workers: data-loader worker processes per rank.
        collate_fn: applied to each batch; default returns the list of dicts.

    Returns:
        An infinite iterable of lists of ``total_batch_size // world_size`` mapped dicts.
    """
    _check_batch_size(total_batch_size)
    dataset = _map_dataset(dataset, mapper, sampler, "build_detection_train_loader")
    if not isinstance(dataset, torchdata.IterableDataset):
        if sampler is None:
            sampler = TrainingSampler(len(dataset))
        if not isinstance(sampler, torchdata.Sampler):
            raise TypeError(f"Expected a torch Sampler, got {type(sampler).__name__}")
        dataset = ToIterableDataset(
            dataset, sampler, shard_chunk_size=total_batch_size // comm.get_world_size()
        )
    return build_batch_data_loader(
        dataset,
        total_batch_size,
        aspect_ratio_grouping=aspect_ratio_grouping,
        num_workers=num_workers,
        collate_fn=collate_fn,
    )


def build_detection_test_loader(
    dataset: list[dict] | torchdata.Dataset,
    *,
    mapper: Callable[[dict], Any] | None,
    sampler: torchdata.Sampler | None = None,
    batch_size: int = 1,
    num_workers: int = 0,
    collate_fn: Callable[[list], Any] | None = None,
) -> torchdata.DataLoader:
    """The inference loader of one rank: each image exactly once over all ranks, in order.

    Args:
        dataset: dataset dicts or a torch Dataset.
        mapper: maps a dataset dict to the model input dict; None keeps elements as they are.
        sampler: default ``InferenceSampler(len(dataset))`` (contiguous shard per rank).
        batch_size: images per batch on this rank.
        num_workers: data-loader worker processes.
        collate_fn: default returns the list of dicts.

    Returns:
        DataLoader: yields lists of up to ``batch_size`` mapped dicts.
    """
    dataset = _map_dataset(dataset, mapper, sampler, "build_detection_test_loader")
    if sampler is None and not isinstance(dataset, torchdata.IterableDataset):
        sampler = InferenceSampler(len(dataset))
    return torchdata.DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=False,
        num_workers=num_workers,
        collate_fn=trivial_batch_collator if collate_fn is None else collate_fn,
    )
