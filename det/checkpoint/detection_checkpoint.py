"""The checkpointer used by the tools: :class:`Checkpointer` plus detection-specific formats.

On top of :class:`det.checkpoint.Checkpointer` it

* downloads ``http(s)://`` and ``detectron2://`` URLs into a local cache;
* reads detectron2 model-zoo ``.pkl`` files (numpy arrays; these need full unpickling and are
  only read with ``allow_unsafe_load``);
* converts checkpoints of other published layouts (EVA-02 masked-image-modeling weights, ...)
  with the converters listed in :data:`CONVERTERS`.
"""

from __future__ import annotations

import importlib
import logging
import os
import pickle
from typing import Any
from urllib.parse import urlparse

import numpy as np
import torch
from torch import nn

from det.checkpoint.checkpointer import (
    Checkpointer,
    CheckpointError,
    CheckpointNotFoundError,
    UnsafeCheckpointError,
)
from det.checkpoint.load_report import LoadReport

__all__ = ["CONVERTERS", "DetectionCheckpointer"]

# "module:function" of every checkpoint-layout converter, tried in order. Each takes
# ``(state_dict, model)`` and returns None for a checkpoint it does not recognize (quickly: it
# runs on every load), or ``(state_dict keyed by the model's names, report)`` where ``report``
# has ``is_clean`` and a ``__str__`` that lists loaded / deliberately dropped / missing groups.
CONVERTERS: tuple[str, ...] = (
    "det.checkpoint.eva02_pretrained:maybe_convert_eva02_mim",
    "det.checkpoint.timm_vit_pretrained:maybe_convert_timm_vit",
    "det.checkpoint.beit_pretrained:maybe_convert_beit",
    "det.checkpoint.mmseg_released:maybe_convert_mmseg_release",
)

_D2_PREFIX = "detectron2://"
_D2_URL = "https://dl.fbaipublicfiles.com/detectron2/"


def _cache_dir() -> str:
    return os.path.expanduser(os.environ.get("DET_CACHE", "~/.torch/det_cache"))


class DetectionCheckpointer(Checkpointer):
    """:class:`Checkpointer` that also reads URLs, model-zoo ``.pkl`` files and EVA-02 MIM
    checkpoints.

    Constructor arguments are those of :class:`Checkpointer`:
    ``DetectionCheckpointer(model, save_dir="", *, save_to_disk=None, allow_unsafe_load=None,
    **checkpointables)``.
    """

    def __init__(self, model: nn.Module, save_dir: str = "", **kwargs: Any):
        super().__init__(model, save_dir, **kwargs)
        self._conversion_report: Any = None

    def _resolve_path(self, path: str) -> str:
        if path.startswith(_D2_PREFIX):
            path = _D2_URL + path[len(_D2_PREFIX) :]
        if not path.startswith(("http://", "https://")):
            return super()._resolve_path(path)
        cached = os.path.join(_cache_dir(), os.path.basename(urlparse(path).path))
        if os.path.isfile(cached):
            return cached
        self.logger.info(f"Downloading {path} to {cached} ...")
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        try:
            # Downloads to a temporary file and renames it, so a failed download leaves no file.
            torch.hub.download_url_to_file(path, cached, progress=False)
        except Exception as e:
            raise CheckpointNotFoundError(
                f"Could not download checkpoint '{path}' ({type(e).__name__}: {e}). Download it "
                "yourself and pass the local file, e.g. train.init_checkpoint=/path/model.pth."
            ) from None
        return cached

    def _load_file(self, path: str) -> Any:
        if not path.endswith(".pkl"):
            return super()._load_file(path)
        if not self.allow_unsafe_load:
            raise UnsafeCheckpointError(
                f"Checkpoint '{path}' is a pickle (.pkl) file, which can run arbitrary code when "
                "read. If you trust it, allow it with DetectionCheckpointer(..., "
                "allow_unsafe_load=True) or the environment variable DET_ALLOW_UNSAFE_LOAD=1."
            )
        try:
            with open(path, "rb") as f:
                data = pickle.load(f, encoding="latin1")
        except Exception as e:
            raise self._corrupt(path, e) from None
        if isinstance(data, dict) and "blobs" in data:
            raise CheckpointError(
                f"Checkpoint '{path}' is a Caffe2 (Detectron 1) file; convert it to a torch "
                "state dict first."
            )
        if isinstance(data, dict) and "model" in data:
            data = dict(data)
            data["model"] = _numpy_to_torch(data["model"])
            return data
        return _numpy_to_torch(data)

    def _convert_loaded(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """Maps a published checkpoint of another layout (pre-training weights, mmseg
        releases, ...) onto the model with the first converter of :data:`CONVERTERS` that
        recognizes it; any other checkpoint is returned unchanged."""
        for spec in CONVERTERS:
            module_name, func_name = spec.split(":")
            # Imported lazily: a converter pulls in the model code it maps onto.
            convert = getattr(importlib.import_module(module_name), func_name)
            converted = convert(checkpoint["model"], self.model)
            if converted is None:
                continue
            state_dict, self._conversion_report = converted
            checkpoint = dict(checkpoint)
            checkpoint["model"] = state_dict
            return checkpoint
        return checkpoint

    def _log_load_report(self, report: LoadReport) -> None:
        conversion = self._conversion_report
        if conversion is None:
            super()._log_load_report(report)
            return
        # The conversion report already explains what is missing (e.g. the detection heads)
        # and why; the generic listing would repeat it less precisely.
        self._conversion_report = None
        clean = getattr(conversion, "is_clean", True)
        self.logger.log(logging.INFO if clean else logging.WARNING, str(conversion))


def _numpy_to_torch(state: Any) -> Any:
    if not isinstance(state, dict):
        return state
    return {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in state.items()}
