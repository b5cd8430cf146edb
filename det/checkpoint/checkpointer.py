"""Saving and loading of model weights plus training state, crash-safe.

A checkpoint file is a dict ``{"model": state_dict, "<checkpointable>": state, ...,
"iteration": int}`` written with ``torch.save``; ``last_checkpoint`` in the same directory holds
the file name of the newest one. Both are written atomically (temp file + rename), so an
interrupted save never leaves a truncated file or a ``last_checkpoint`` that points to one.
Loading uses ``torch.load(weights_only=True)``: files that need arbitrary unpickling are
refused unless the caller opts in with ``allow_unsafe_load=True``.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
from typing import Any

import torch
from torch import nn

from det.checkpoint.load_report import LoadReport, align_state_dict
from det.utils import comm
from det.utils.errors import UserError
from det.utils.file_io import atomic_torch_save, atomic_write_text

__all__ = [
    "CheckpointError",
    "CheckpointNotFoundError",
    "Checkpointer",
    "CorruptCheckpointError",
    "PeriodicCheckpointer",
    "UnsafeCheckpointError",
]

_LAST_CHECKPOINT = "last_checkpoint"
_UNSAFE_ENV = "DET_ALLOW_UNSAFE_LOAD"


class CheckpointError(UserError):
    """A checkpoint cannot be used (missing, corrupt, unsafe, or not a state dict)."""


class CheckpointNotFoundError(CheckpointError):
    """The checkpoint path does not exist."""


class CorruptCheckpointError(CheckpointError):
    """The checkpoint file exists but cannot be read (truncated, corrupt, not a torch file)."""


class UnsafeCheckpointError(CheckpointError):
    """The checkpoint needs arbitrary unpickling, which is refused unless explicitly allowed."""


def _unwrap_model(model: nn.Module) -> nn.Module:
    # DDP / DataParallel keep the real model in .module; checkpoints store its names.
    if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        return model.module
    return model


class Checkpointer:
    """Saves and loads a model together with other objects that have a ``state_dict``.

    Example::

        checkpointer = Checkpointer(model, "output", trainer=trainer)
        checkpointer.save("model_0000999", iteration=999)  # output/model_0000999.pth
        checkpointer.resume_or_load("init.pth", resume=True)
    """

    def __init__(
        self,
        model: nn.Module,
        save_dir: str = "",
        *,
        save_to_disk: bool | None = None,
        allow_unsafe_load: bool | None = None,
        **checkpointables: Any,
    ):
        """Args:
        model: the model (a DDP wrapper is unwrapped).
        save_dir: directory of the checkpoint files and ``last_checkpoint``; ``""`` disables
            saving.
        save_to_disk: whether :meth:`save` writes files (default: only on the main process).
        allow_unsafe_load: allow files that need full unpickling (only for files you trust:
            unpickling can run arbitrary code). Default: the environment variable
            ``DET_ALLOW_UNSAFE_LOAD=1``, else False.
        **checkpointables: other objects with ``state_dict()``/``load_state_dict()`` saved under
            their keyword (e.g. ``trainer=trainer``, ``ema_state=model.ema_state``).
        """
        self.model = _unwrap_model(model)
        self.save_dir = save_dir
        self.save_to_disk = comm.is_main_process() if save_to_disk is None else save_to_disk
        if allow_unsafe_load is None:
            allow_unsafe_load = os.environ.get(_UNSAFE_ENV, "0") == "1"
        self.allow_unsafe_load = allow_unsafe_load
        self.checkpointables = dict(checkpointables)
        self.logger = logging.getLogger(__name__)
        #: The :class:`LoadReport` of the last :meth:`load` (None before any load).
        self.load_report: LoadReport | None = None

    # ----------------------------------------------------------------------------- saving
    def save(self, name: str, **kwargs: Any) -> None:
        """Writes ``<save_dir>/<name>.pth`` atomically, then points ``last_checkpoint`` to it.

        Args:
            name: file name without ``.pth``, e.g. ``"model_0004999"``.
            **kwargs: extra picklable entries of the checkpoint, e.g. ``iteration=4999``.
        """
        if not self.save_dir or not self.save_to_disk:
            return
        data: dict[str, Any] = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        basename = f"{name}.pth"
        save_file = os.path.join(self.save_dir, basename)
        self.logger.info(f"Saving checkpoint to {save_file}")
        atomic_torch_save(data, save_file)
        # Only now that the file is complete may last_checkpoint point to it.
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        """Atomically writes ``last_filename_basename`` into ``<save_dir>/last_checkpoint``."""
        atomic_write_text(os.path.join(self.save_dir, _LAST_CHECKPOINT), last_filename_basename)

    def has_checkpoint(self) -> bool:
        """Returns whether ``<save_dir>/last_checkpoint`` exists."""
        return bool(self.save_dir) and os.path.isfile(os.path.join(self.save_dir, _LAST_CHECKPOINT))

    def get_checkpoint_file(self) -> str:
        """Returns the path of the checkpoint named in ``last_checkpoint`` ("" if none)."""
        tag = os.path.join(self.save_dir, _LAST_CHECKPOINT)
        try:
            with open(tag) as f:
                last_saved = f.read().strip()
        except OSError:
            return ""
        return os.path.join(self.save_dir, last_saved)

    def get_all_checkpoint_files(self) -> list[str]:
        """Returns the paths of all ``.pth`` files in ``save_dir``, sorted by name."""
        if not self.save_dir or not os.path.isdir(self.save_dir):
            return []
        return sorted(
            os.path.join(self.save_dir, f)
            for f in os.listdir(self.save_dir)
            if f.endswith(".pth") and os.path.isfile(os.path.join(self.save_dir, f))
        )

    # ---------------------------------------------------------------------------- loading
    def resume_or_load(self, path: str, *, resume: bool = True) -> dict[str, Any]:
        """Resumes from ``last_checkpoint`` if asked and possible, else loads weights from ``path``.

        With ``resume=True`` and an existing ``<save_dir>/last_checkpoint``, the model and all
        checkpointables (trainer, EMA, ...) are restored from the file it names, and ``path``
        (the ``init_checkpoint``) is ignored. Otherwise only the model weights are loaded from
        ``path`` (nothing if ``path`` is empty).

        Args:
            path: weights to start from (``train.init_checkpoint``).
            resume: whether to resume from ``last_checkpoint`` when it exists.

        Returns:
            dict: the checkpoint entries that were not consumed (e.g. ``"iteration"``).
        """
        if resume and self.has_checkpoint():
            last = self.get_checkpoint_file()
            if path:
                self.logger.info(
                    f"Resuming from {last} (found {os.path.join(self.save_dir, _LAST_CHECKPOINT)}"
                    f"); init_checkpoint '{path}' is ignored."
                )
            return self.load(last)
        if resume:
            self.logger.info(
                f"--resume: no {_LAST_CHECKPOINT} in '{self.save_dir}'; starting from "
                f"init_checkpoint '{path}'."
            )
        return self.load(path, checkpointables=[])

    def load(self, path: str, checkpointables: list[str] | None = None) -> dict[str, Any]:
        """Loads the model weights and the checkpointables from a checkpoint file.

        Accepts ``{"model": state_dict, ...}`` files and flat state dicts; a DDP ``module.``
        prefix is removed. Keys are matched exactly or by suffix, tensors whose shape differs
        from the model's are skipped, and a short report is logged (also kept in
        :attr:`load_report`).

        Args:
            path: checkpoint file (``""`` loads nothing).
            checkpointables: which checkpointables to restore; ``None`` means all that are in
                the file, ``[]`` means none.

        Returns:
            dict: the checkpoint entries that were not consumed (e.g. ``"iteration"``).

        Raises:
            CheckpointNotFoundError, CorruptCheckpointError, UnsafeCheckpointError,
            CheckpointError: with a message naming the file.
        """
        if not path:
            self.logger.info("No checkpoint given; the model keeps its initialization.")
            return {}
        self.logger.info(f"[Checkpointer] Loading from {path} ...")
        local_path = self._resolve_path(path)
        checkpoint = self._load_file(local_path)
        if not isinstance(checkpoint, dict):
            raise CheckpointError(
                f"Checkpoint '{path}' holds a {type(checkpoint).__name__}; expected a dict "
                "(a state dict, or {'model': state_dict, ...})."
            )
        checkpoint = _normalize(checkpoint)
        checkpoint = self._convert_loaded(checkpoint)
        self._load_model(checkpoint, path)
        names = list(self.checkpointables) if checkpointables is None else list(checkpointables)
        for key in names:
            if key not in self.checkpointables:
                known = list(self.checkpointables)
                raise ValueError(f"Unknown checkpointable '{key}'; known: {known}.")
            if key in checkpoint:
                self.logger.info(f"Loading {key} from {path} ...")
                self.checkpointables[key].load_state_dict(checkpoint.pop(key))
            else:
                self.logger.warning(
                    f"Checkpoint '{path}' has no '{key}' entry; {key} keeps its current state."
                )
        return checkpoint

    def _resolve_path(self, path: str) -> str:
        """Returns a local file for ``path``; subclasses may download URLs here."""
        if not os.path.isfile(path):
            raise CheckpointNotFoundError(
                f"Checkpoint '{path}' not found (resolved to '{os.path.abspath(path)}'). Check "
                "the path given as train.init_checkpoint, or the file named in "
                f"{_LAST_CHECKPOINT} of the output directory."
            )
        return path

    def _load_file(self, path: str) -> Any:
        """Reads a checkpoint file with ``torch.load`` on the CPU (``weights_only`` unless
        :attr:`allow_unsafe_load`)."""
        try:
            return torch.load(path, map_location="cpu", weights_only=not self.allow_unsafe_load)
        except pickle.UnpicklingError as e:
            unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
            if unsafe and not self.allow_unsafe_load:
                raise UnsafeCheckpointError(
                    f"Checkpoint '{path}' contains Python objects ({unsafe.group(1)}) that "
                    "torch.load(weights_only=True) refuses to unpickle, because unpickling can "
                    "run arbitrary code. If you trust the file, allow it with "
                    "DetectionCheckpointer(..., allow_unsafe_load=True) or, for the tools, "
                    f"the environment variable {_UNSAFE_ENV}=1; better, re-save it as a plain "
                    "state dict of tensors."
                ) from None
            raise self._corrupt(path, e) from None
        except MemoryError:
            raise
        except Exception as e:  # torch reports damaged files with many exception types
            raise self._corrupt(path, e) from None

    @staticmethod
    def _corrupt(path: str, error: Exception) -> CorruptCheckpointError:
        size = os.path.getsize(path)
        text = str(error)
        # torch's weights_only message starts with generic advice; the cause follows this tag.
        detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
        reason = detail.group(1) if detail else (text.strip().splitlines() or [""])[0]
        reason = reason.strip() or "no details"
        return CorruptCheckpointError(
            f"Checkpoint '{path}' ({size} bytes) is truncated or corrupt and cannot be read "
            f"({type(error).__name__}: {reason[:200]}). Re-download or re-create it; for a "
            "training run, point last_checkpoint to an earlier model_*.pth in the same "
            "directory."
        )

    def _convert_loaded(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """Hook to convert third-party formats into ``{"model": state_dict, ...}``."""
        return checkpoint

    def _load_model(self, checkpoint: dict[str, Any], path: str) -> LoadReport:
        state = checkpoint.pop("model")
        try:
            aligned, report = align_state_dict(state, self.model)
        except ValueError as e:
            raise CheckpointError(f"Checkpoint '{path}': {e}") from None
        self.model.load_state_dict(aligned, strict=False)
        if not aligned and state:
            self.logger.warning(f"No weights in checkpoint '{path}' matched the model.")
        self._log_load_report(report)
        self.load_report = report
        return report

    def _log_load_report(self, report: LoadReport) -> None:
        report.log(self.logger)


def _normalize(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """Returns ``{"model": flat state dict, ...other entries}`` for the common layouts."""
    if "model" in checkpoint and isinstance(checkpoint["model"], dict):
        checkpoint = dict(checkpoint)
    elif "state_dict" in checkpoint and isinstance(checkpoint["state_dict"], dict):
        checkpoint = dict(checkpoint)
        checkpoint["model"] = checkpoint.pop("state_dict")
    elif "module" in checkpoint and isinstance(checkpoint["module"], dict):
        # DeepSpeed-style files, e.g. EVA-02 MIM pre-training checkpoints.
        checkpoint = dict(checkpoint)
        checkpoint["model"] = checkpoint.pop("module")
    else:
        checkpoint = {"model": checkpoint}
    state = checkpoint["model"]
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    checkpoint["model"] = {k: v for k, v in state.items() if torch.is_tensor(v)}
    return checkpoint


class PeriodicCheckpointer:
    """Saves ``<prefix>_{iteration:07d}.pth`` every ``period`` iterations and
    ``<prefix>_final.pth`` at the last one, keeping at most ``max_to_keep`` periodic files.

    A file is saved after iteration ``it`` when ``(it + 1) % period == 0`` (so
    ``model_0004999.pth`` for period 5000).
    """

    def __init__(
        self,
        checkpointer: Checkpointer,
        period: int,
        max_iter: int | None = None,
        max_to_keep: int | None = None,
        file_prefix: str = "model",
    ):
        """Args:
        checkpointer: saves the files.
        period: save every ``period`` iterations.
        max_iter: total iterations; the final checkpoint is saved at ``max_iter - 1``.
        max_to_keep: keep only the newest ``max_to_keep`` periodic files written by this
            object (``None``: keep all). ``<prefix>_final.pth`` is never deleted.
        file_prefix: file name prefix.
        """
        if period <= 0:
            raise ValueError(f"Checkpoint period must be positive; got {period}.")
        if max_to_keep is not None and max_to_keep <= 0:
            raise ValueError(f"max_to_keep must be positive or None; got {max_to_keep}.")
        self.checkpointer = checkpointer
        self.period = int(period)
        self.max_iter = max_iter
        self.max_to_keep = max_to_keep
        self.file_prefix = file_prefix
        self.recent_checkpoints: list[str] = []

    def step(self, iteration: int, **kwargs: Any) -> None:
        """Saves the checkpoint(s) due after ``iteration``.

        Args:
            iteration: the iteration that just finished.
            **kwargs: extra entries saved in the file (``iteration`` is always added).
        """
        iteration = int(iteration)
        additional_state = {"iteration": iteration, **kwargs}
        if (iteration + 1) % self.period == 0:
            name = f"{self.file_prefix}_{iteration:07d}"
            self.checkpointer.save(name, **additional_state)
            if self.max_to_keep is not None:
                self._prune(os.path.join(self.checkpointer.save_dir, name + ".pth"))
        if self.max_iter is not None and iteration >= self.max_iter - 1:
            self.checkpointer.save(f"{self.file_prefix}_final", **additional_state)

    def _prune(self, new_file: str) -> None:
        self.recent_checkpoints.append(new_file)
        while len(self.recent_checkpoints) > self.max_to_keep:
            old = self.recent_checkpoints.pop(0)
            # Never delete the file last_checkpoint points to (e.g. after a restart).
            if old != self.checkpointer.get_checkpoint_file() and os.path.isfile(old):
                os.remove(old)

    def save(self, name: str, **kwargs: Any) -> None:
        """Saves ``<name>.pth`` through the checkpointer (see :meth:`Checkpointer.save`)."""
        self.checkpointer.save(name, **kwargs)
