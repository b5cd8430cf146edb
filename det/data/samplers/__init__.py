"""Training and inference index samplers (detectron2 API)."""

from .distributed_sampler import (
    InferenceSampler,
    RepeatFactorTrainingSampler,
    TrainingSampler,
    repeat_factors_from_category_frequency,
)
from .grouped_batch_sampler import GroupedBatchSampler

__all__ = [
    "GroupedBatchSampler",
    "InferenceSampler",
    "RepeatFactorTrainingSampler",
    "TrainingSampler",
    "repeat_factors_from_category_frequency",
]
