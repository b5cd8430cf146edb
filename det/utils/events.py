"""Training-time event storage (scalars, images, histograms) and the writers that export it.

The trainer opens an :class:`EventStorage` for the whole run; any code called from the training
loop reaches it through :func:`get_event_storage` and records scalars (``put_scalar``). Writers
(:class:`CommonMetricPrinter`, :class:`JSONWriter`, :class:`TensorboardXWriter`,
:class:`WAndBWriter`) periodically read the storage and export what is new.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Any

import torch
from fvcore.common.history_buffer import HistoryBuffer

__all__ = [
    "CommonMetricPrinter",
    "EventStorage",
    "EventWriter",
    "JSONWriter",
    "TensorboardXWriter",
    "WAndBWriter",
    "get_event_storage",
    "has_event_storage",
]

_CURRENT_STORAGE_STACK: list[EventStorage] = []


def get_event_storage() -> EventStorage:
    """Returns the innermost :class:`EventStorage` that is currently open.

    Raises:
        RuntimeError: when called outside ``with EventStorage(...)`` (e.g. outside training).
    """
    if not _CURRENT_STORAGE_STACK:
        raise RuntimeError(
            "get_event_storage() has to be called inside a 'with EventStorage(...)' context "
            "(the trainer opens one for the duration of training)."
        )
    return _CURRENT_STORAGE_STACK[-1]


def has_event_storage() -> bool:
    """Whether an :class:`EventStorage` is open, i.e. ``get_event_storage()`` would succeed.

    Model code uses it to log training statistics only when there is a storage (training),
    and to stay silent in inference or unit tests.
    """
    return bool(_CURRENT_STORAGE_STACK)


class EventStorage:
    """Stores the metrics produced during training, keyed by name, with their iteration.

    Each scalar name has a :class:`fvcore.common.history_buffer.HistoryBuffer` of
    ``(value, iteration)`` pairs. ``smoothing_hint`` tells writers whether a scalar should be
    reported as a median over a window (noisy losses) or as its latest value (lr, eval metrics).
    """

    def __init__(self, start_iter: int = 0):
        """Args:
        start_iter: the iteration number the storage starts at.
        """
        self._history: dict[str, HistoryBuffer] = defaultdict(HistoryBuffer)
        self._smoothing_hints: dict[str, bool] = {}
        self._latest_scalars: dict[str, tuple[float, int]] = {}
        self._iter = start_iter
        self._current_prefix = ""
        self._vis_data: list[tuple[str, Any, int]] = []
        self._histograms: list[dict[str, Any]] = []

    def put_image(self, img_name: str, img_tensor: torch.Tensor | Any) -> None:
        """Adds an image for the writers (TensorBoard) to export.

        Args:
            img_name: the tag under which the image is shown.
            img_tensor (Tensor[3, H, W] or ndarray[3, H, W]): RGB, float in [0, 1] or uint8
                in [0, 255].
        """
        self._vis_data.append((img_name, img_tensor, self._iter))

    def put_scalar(
        self, name: str, value: float, smoothing_hint: bool = True, cur_iter: int | None = None
    ) -> None:
        """Records a scalar at the current (or given) iteration.

        Args:
            name: metric name; the current :meth:`name_scope` prefix is prepended.
            value: a number or a 0-d tensor.
            smoothing_hint: whether writers may report a windowed median instead of the latest
                value. It must be the same every time a name is put.
            cur_iter: iteration to record the value at (default: the storage's iteration).
        """
        name = self._current_prefix + name
        cur_iter = self._iter if cur_iter is None else cur_iter
        value = float(value)
        self._history[name].update(value, cur_iter)
        self._latest_scalars[name] = (value, cur_iter)
        existing_hint = self._smoothing_hints.get(name)
        if existing_hint is None:
            self._smoothing_hints[name] = smoothing_hint
        elif existing_hint != smoothing_hint:
            raise ValueError(f"Scalar '{name}' was put with different smoothing_hint values.")

    def put_scalars(
        self, *, smoothing_hint: bool = True, cur_iter: int | None = None, **kwargs: float
    ) -> None:
        """Records several scalars: ``put_scalars(loss_a=0.1, loss_b=0.2)``.

        Args:
            smoothing_hint: as in :meth:`put_scalar`, for all of them.
            cur_iter: as in :meth:`put_scalar`.
            **kwargs: name -> value.
        """
        for name, value in kwargs.items():
            self.put_scalar(name, value, smoothing_hint=smoothing_hint, cur_iter=cur_iter)

    def put_histogram(self, hist_name: str, hist_tensor: torch.Tensor, bins: int = 1000) -> None:
        """Records a histogram of ``hist_tensor`` for TensorBoard.

        Args:
            hist_name: tag of the histogram.
            hist_tensor (Tensor[*]): values to summarize (flattened).
            bins: number of equal-width bins.
        """
        values = hist_tensor.detach().float().flatten().cpu()
        ht_min, ht_max = values.min().item(), values.max().item()
        counts = torch.histc(values, bins=bins, min=ht_min, max=ht_max)
        edges = torch.linspace(ht_min, ht_max, steps=bins + 1)
        self._histograms.append(
            dict(
                tag=hist_name,
                min=ht_min,
                max=ht_max,
                num=len(values),
                sum=float(values.sum()),
                sum_squares=float((values**2).sum()),
                bucket_limits=edges[1:].tolist(),
                bucket_counts=counts.tolist(),
                global_step=self._iter,
            )
        )

    def history(self, name: str) -> HistoryBuffer:
        """Returns the :class:`HistoryBuffer` of scalar ``name``.

        Raises:
            KeyError: if nothing was recorded under ``name``.
        """
        if name not in self._history:
            raise KeyError(f"No history metric available for '{name}'.")
        return self._history[name]

    def histories(self) -> dict[str, HistoryBuffer]:
        """Returns all history buffers, name -> :class:`HistoryBuffer`."""
        return self._history

    def latest(self) -> dict[str, tuple[float, int]]:
        """Returns name -> (latest value, iteration at which it was put)."""
        return self._latest_scalars

    def latest_with_smoothing_hint(self, window_size: int = 20) -> dict[str, tuple[float, int]]:
        """Like :meth:`latest`, but scalars put with ``smoothing_hint=True`` are replaced by the
        median of their last ``window_size`` values.
        """
        result = {}
        for name, (value, itr) in self._latest_scalars.items():
            if self._smoothing_hints[name]:
                value = float(self._history[name].median(window_size))
            result[name] = (value, itr)
        return result

    def smoothing_hints(self) -> dict[str, bool]:
        """Returns name -> the smoothing hint the scalar was put with."""
        return self._smoothing_hints

    def step(self) -> None:
        """Advances the iteration counter by one (the trainer sets :attr:`iter` directly)."""
        self._iter += 1

    @property
    def iter(self) -> int:
        """The current iteration; values put without ``cur_iter`` are recorded at it."""
        return self._iter

    @iter.setter
    def iter(self, val: int) -> None:
        self._iter = int(val)

    @property
    def iteration(self) -> int:
        """Alias of :attr:`iter`."""
        return self._iter

    def __enter__(self) -> EventStorage:
        _CURRENT_STORAGE_STACK.append(self)
        return self

    def __exit__(self, exc_type, exc_val, exc_tb) -> None:
        assert _CURRENT_STORAGE_STACK[-1] is self
        _CURRENT_STORAGE_STACK.pop()

    @contextmanager
    def name_scope(self, name: str):
        """Prefixes the names of scalars put inside the block with ``name + "/"``.

        Scopes nest: ``name_scope("a")`` then ``name_scope("b")`` gives ``a/b/<name>``.
        """
        old_prefix = self._current_prefix
        self._current_prefix = old_prefix + name.rstrip("/") + "/"
        try:
            yield
        finally:
            self._current_prefix = old_prefix

    def clear_images(self) -> None:
        """Drops the stored images (writers call this once they exported them)."""
        self._vis_data = []

    def clear_histograms(self) -> None:
        """Drops the stored histograms (writers call this once they exported them)."""
        self._histograms = []


class EventWriter:
    """Base class of the writers that export the content of the current :class:`EventStorage`."""

    def write(self) -> None:
        """Exports what is new in :func:`get_event_storage`."""
        raise NotImplementedError

    def close(self) -> None:
        """Releases files and connections; the default does nothing."""


class JSONWriter(EventWriter):
    """Appends one JSON object per iteration to a file (``metrics.json``, "JSON lines").

    Each line holds ``"iteration"`` and every scalar recorded at that iteration (smoothed as
    hinted), e.g. ``{"data_time": 0.01, "iteration": 19, "lr": 0.0001, "total_loss": 1.2}``.
    Evaluation results appear as ``"bbox/AP"``-style keys on the line of their iteration.
    Only iterations newer than the last write are appended, so the file can be read with
    ``[json.loads(line) for line in open(path)]``.
    """

    def __init__(self, json_file: str, window_size: int = 20):
        """Args:
        json_file: path of the file; it is appended to (a resumed run continues it).
        window_size: median window for scalars with ``smoothing_hint=True``.
        """
        os.makedirs(os.path.dirname(os.path.abspath(json_file)), exist_ok=True)
        self._file_handle = open(json_file, "a")  # noqa: SIM115 (closed in close())
        self._window_size = window_size
        self._last_write = -1

    def write(self) -> None:
        storage = get_event_storage()
        to_save: dict[int, dict[str, float]] = defaultdict(dict)
        for name, (value, itr) in storage.latest_with_smoothing_hint(self._window_size).items():
            if itr <= self._last_write:
                continue
            to_save[itr][name] = value
        if to_save:
            self._last_write = max(to_save.keys())
        for itr, scalars in sorted(to_save.items()):
            scalars["iteration"] = itr
            self._file_handle.write(json.dumps(scalars, sort_keys=True) + "\n")
        self._file_handle.flush()

    def close(self) -> None:
        self._file_handle.close()


class TensorboardXWriter(EventWriter):
    """Writes scalars, images and histograms to TensorBoard event files in ``log_dir``."""

    def __init__(self, log_dir: str, window_size: int = 20, **kwargs: Any):
        """Args:
        log_dir: directory of the ``events.out.tfevents.*`` files.
        window_size: median window for scalars with ``smoothing_hint=True``.
        **kwargs: passed to ``torch.utils.tensorboard.SummaryWriter``.
        """
        # Imported here: tensorboard is slow to import and only the main process writes.
        from torch.utils.tensorboard import SummaryWriter

        self._window_size = window_size
        self._writer = SummaryWriter(log_dir, **kwargs)
        self._last_write = -1

    def write(self) -> None:
        storage = get_event_storage()
        new_last_write = self._last_write
        for name, (value, itr) in storage.latest_with_smoothing_hint(self._window_size).items():
            if itr > self._last_write:
                self._writer.add_scalar(name, value, itr)
                new_last_write = max(new_last_write, itr)
        self._last_write = new_last_write
        if storage._vis_data:
            for img_name, img, step_num in storage._vis_data:
                self._writer.add_image(img_name, img, step_num)
            storage.clear_images()
        if storage._histograms:
            for params in storage._histograms:
                self._writer.add_histogram_raw(**params)
            storage.clear_histograms()
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class WAndBWriter(EventWriter):
    """Logs scalars and images to Weights & Biases (``pip install wandb``).

    The run is named after the output directory, in project ``"ViT-Det"`` by default, as in the
    EVA-02 fork.
    """

    def __init__(self, output_dir: str, window_size: int = 20, project: str = "ViT-Det"):
        """Args:
        output_dir: the training output directory; its base name names the run.
        window_size: median window for scalars with ``smoothing_hint=True``.
        project: the W&B project.
        """
        try:
            import wandb
        except ImportError as e:
            raise ImportError(
                "WAndBWriter (--wandb) needs the 'wandb' package: pip install wandb "
                "(or pip install 'det[wandb]'), then run 'wandb login'."
            ) from e
        self._wandb = wandb
        self._window_size = window_size
        self._run = wandb.init(project=project, name=os.path.basename(os.path.normpath(output_dir)))
        self._last_write = -1

    def write(self) -> None:
        storage = get_event_storage()
        by_iter: dict[int, dict[str, Any]] = defaultdict(dict)
        for name, (value, itr) in storage.latest_with_smoothing_hint(self._window_size).items():
            if itr > self._last_write:
                by_iter[itr][name] = value
        for img_name, img, step_num in storage._vis_data:
            array = img.detach().cpu().numpy() if torch.is_tensor(img) else img
            by_iter[step_num][img_name] = self._wandb.Image(array.transpose(1, 2, 0))
        storage.clear_images()
        for itr in sorted(by_iter):
            self._run.log(by_iter[itr], step=itr)
        if by_iter:
            self._last_write = max(self._last_write, max(by_iter))

    def close(self) -> None:
        self._run.finish()


class CommonMetricPrinter(EventWriter):
    """Logs the common metrics of the iteration in one line, e.g.::

        eta: 0:10:12  iter: 19  total_loss: 1.52  loss_cls: 0.71  ...  time: 0.41  last_time: 0.40
        data_time: 0.01  last_data_time: 0.01  lr: 5e-05  max_mem: 1234M

    ``time``/``data_time`` are medians over the window; ``max_mem`` is the peak CUDA memory
    allocated by this process (absent on CPU).
    """

    def __init__(self, max_iter: int | None = None, window_size: int = 20):
        """Args:
        max_iter: total iterations, to estimate the remaining time (no ETA if ``None``).
        window_size: median window for losses and timings.
        """
        self.logger = logging.getLogger("det.utils.events")
        self._max_iter = max_iter
        self._window_size = window_size
        self._last_write: tuple[int, float] | None = None

    def _get_eta(self, storage: EventStorage) -> str | None:
        if self._max_iter is None:
            return None
        iteration = storage.iter
        try:
            eta_seconds = storage.history("time").median(1000) * (self._max_iter - iteration - 1)
            storage.put_scalar("eta_seconds", eta_seconds, smoothing_hint=False)
            return str(datetime.timedelta(seconds=int(eta_seconds)))
        except KeyError:
            # No "time" yet (IterationTimer skips warm-up iterations): estimate from wall time.
            eta = None
            if self._last_write is not None:
                last_iter, last_time = self._last_write
                seconds_per_iter = (time.perf_counter() - last_time) / max(iteration - last_iter, 1)
                eta_seconds = seconds_per_iter * (self._max_iter - iteration - 1)
                eta = str(datetime.timedelta(seconds=int(eta_seconds)))
            self._last_write = (iteration, time.perf_counter())
            return eta

    def write(self) -> None:
        storage = get_event_storage()
        iteration = storage.iter
        if self._max_iter is not None and iteration == self._max_iter:
            # After training ends (after_train), there is nothing new to print.
            return

        def _timing(name: str) -> str:
            if name not in storage.histories():
                return ""
            buffer = storage.history(name)
            return (
                f"{name}: {buffer.median(self._window_size):.4f}  "
                f"last_{name}: {buffer.latest():.4f}"
            )

        lr = f"lr: {storage.history('lr').latest():.5g}" if "lr" in storage.histories() else ""
        eta = self._get_eta(storage)
        losses = "  ".join(
            f"{name}: {buffer.median(self._window_size):.4g}"
            for name, buffer in storage.histories().items()
            if "loss" in name
        )
        max_mem = ""
        if torch.cuda.is_available():
            max_mem = f"max_mem: {torch.cuda.max_memory_allocated() / 1024.0 / 1024.0:.0f}M"
        parts = [
            f"eta: {eta}" if eta else "",
            f"iter: {iteration}",
            losses,
            _timing("time"),
            _timing("data_time"),
            lr,
            max_mem,
        ]
        self.logger.info(" " + "  ".join(p for p in parts if p))
