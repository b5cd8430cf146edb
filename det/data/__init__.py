"""Datasets and data loading: catalogs, dataset loaders and the input pipeline.

Importing ``det.data`` registers the built-in datasets under ``$DETECTRON2_DATASETS``.
"""

# Catalogs and datasets (registers the built-in datasets on import).
from . import datasets
from .catalog import DatasetCatalog, Metadata, MetadataCatalog

__all__ = [
    "DatasetCatalog",
    "Metadata",
    "MetadataCatalog",
    "datasets",
]

# Input pipeline (transforms, mappers, samplers, loaders): the pipeline work item appends its
# imports below this line and extends __all__ with `__all__ += [...]`.
from . import transforms  # noqa: E402
from .build import (  # noqa: E402
    build_batch_data_loader,
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
    trivial_batch_collator,
)
from .common import AspectRatioGroupedDataset, DatasetFromList, MapDataset, ToIterableDataset  # noqa: E402
from .dataset_mapper import DatasetMapper  # noqa: E402
from .semseg_mapper import MaskFormerSemanticDatasetMapper  # noqa: E402

__all__ += [
    "AspectRatioGroupedDataset",
    "DatasetFromList",
    "DatasetMapper",
    "MapDataset",
    "MaskFormerSemanticDatasetMapper",
    "ToIterableDataset",
    "build_batch_data_loader",
    "build_detection_test_loader",
    "build_detection_train_loader",
    "get_detection_dataset_dicts",
    "transforms",
    "trivial_batch_collator",
]
