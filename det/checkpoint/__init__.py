"""Checkpoint saving, loading, resuming and load reports."""

from det.checkpoint.checkpointer import (
    Checkpointer,
    CheckpointError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    PeriodicCheckpointer,
    UnsafeCheckpointError,
)
from det.checkpoint.detection_checkpoint import DetectionCheckpointer
from det.checkpoint.load_report import LoadReport, align_state_dict, group_keys

__all__ = [
    "CheckpointError",
    "CheckpointNotFoundError",
    "Checkpointer",
    "CorruptCheckpointError",
    "DetectionCheckpointer",
    "LoadReport",
    "PeriodicCheckpointer",
    "UnsafeCheckpointError",
    "align_state_dict",
    "group_keys",
]
