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
