"""Logging set-up for training processes and rate-limited logging helpers.

``setup_logger(output_dir, rank)`` makes the ``det`` logger print to the console (rank 0 only,
colored) and write to ``<output_dir>/log.txt`` (rank 0) or ``log.txt.rank{N}`` (other ranks).
Log lines look like ``[11/21 09:32:05 det.engine.train_loop]: Starting training ...``.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections import Counter

__all__ = ["log_every_n", "log_every_n_seconds", "log_first_n", "setup_logger"]

_DATE_FORMAT = "%m/%d %H:%M:%S"


class _ConsoleFormatter(logging.Formatter):
    """``[MM/DD HH:MM:SS name]: message``, with the logger-name prefix abbreviated and, on a
    terminal, the prefix in green and WARNING (yellow) / ERROR (red) labels."""

    def __init__(self, *, root_name: str, abbrev_name: str, use_color: bool):
        prefix = "[%(asctime)s %(name)s]: "
        if use_color:
            prefix = "\x1b[32m" + prefix + "\x1b[0m"
        super().__init__(prefix + "%(message)s", datefmt=_DATE_FORMAT)
        self._root_name = root_name + "."
        self._abbrev_name = abbrev_name + "." if abbrev_name else ""
        self._use_color = use_color

    def formatMessage(self, record: logging.LogRecord) -> str:
        # A copy: the record is shared with the file handler, which keeps the full name.
        record = logging.makeLogRecord(record.__dict__)
        record.name = record.name.replace(self._root_name, self._abbrev_name)
        message = super().formatMessage(record)
        if record.levelno == logging.WARNING:
            label = "\x1b[33mWARNING\x1b[0m" if self._use_color else "WARNING"
        elif record.levelno >= logging.ERROR:
            label = "\x1b[31;1mERROR\x1b[0m" if self._use_color else "ERROR"
        else:
            return message
        return label + " " + message


@functools.lru_cache  # one handler per (logger, file) pair, however often setup runs
def setup_logger(
    output: str | None = None,
    distributed_rank: int = 0,
    *,
    color: bool = True,
    name: str = "det",
    abbrev_name: str | None = None,
    enable_propagation: bool = False,
    configure_stdout: bool = True,
) -> logging.Logger:
    """Configures logger ``name`` to print to the console and write to a file.

    Calling it again with the same arguments returns the same logger without adding handlers.

    Args:
        output: a directory (the file is ``<output>/log.txt``) or a file path ending in
            ``.txt``/``.log``; ``None`` for no file. Ranks other than 0 append
            ``.rank{distributed_rank}`` to the file name.
        distributed_rank: global rank; only rank 0 prints to the console.
        color: color the console output (only when stdout is a terminal).
        name: the logger to configure, e.g. ``"det"`` or ``"fvcore"``.
        abbrev_name: short name shown instead of ``name`` in console lines (default: ``name``).
        enable_propagation: also pass records to the parent (root) logger.
        configure_stdout: add the console handler (rank 0).

    Returns:
        logging.Logger: the configured logger.
    """
    logger = logging.getLogger(name)
    logger.setLevel(logging.DEBUG)
    logger.propagate = enable_propagation
    if abbrev_name is None:
        abbrev_name = name
    plain_formatter = logging.Formatter(
        "[%(asctime)s] %(name)s %(levelname)s: %(message)s", datefmt=_DATE_FORMAT
    )
    if configure_stdout and distributed_rank == 0:
        handler = logging.StreamHandler(stream=sys.stdout)
        handler.setLevel(logging.DEBUG)
        formatter = _ConsoleFormatter(
            root_name=name,
            abbrev_name=str(abbrev_name),
            use_color=color and sys.stdout.isatty(),
        )
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    if output is not None:
        if output.endswith((".txt", ".log")):
            filename = output
        else:
            filename = os.path.join(output, "log.txt")
        if distributed_rank > 0:
            filename = f"{filename}.rank{distributed_rank}"
        os.makedirs(os.path.dirname(os.path.abspath(filename)), exist_ok=True)
        file_handler = logging.StreamHandler(_cached_log_stream(os.path.abspath(filename)))
        file_handler.setLevel(logging.DEBUG)
        file_handler.setFormatter(plain_formatter)
        logger.addHandler(file_handler)
    return logger


@functools.cache
def _cached_log_stream(filename: str):
    # One open stream per file, shared by every logger writing to it (e.g. det and fvcore),
    # line-buffered so that a crash loses at most the current line.
    return open(filename, "a", buffering=1)  # noqa: SIM115 (lives as long as the process)


def _find_caller() -> tuple[str, tuple[str, int, str]]:
    """Returns the module name and a (file, line, function) key of the first frame outside
    this file."""
    frame = sys._getframe(2)
    while frame:
        code = frame.f_code
        if os.path.join("utils", "logger.") not in code.co_filename:
            module_name = frame.f_globals.get("__name__", "__main__")
            if module_name == "__main__":
                module_name = "det"
            return module_name, (code.co_filename, frame.f_lineno, code.co_name)
        frame = frame.f_back
    return "det", ("", 0, "")


_LOG_COUNTER: Counter = Counter()
_LOG_TIMER: dict = {}


def log_first_n(
    lvl: int, msg: str, n: int = 1, *, name: str | None = None, key: str | tuple = "caller"
) -> None:
    """Logs ``msg`` only the first ``n`` times.

    Args:
        lvl: logging level, e.g. ``logging.WARNING``.
        msg: the message.
        n: how many times at most.
        name: logger name (default: the caller's module).
        key: what identifies "the same" log call: ``"caller"`` (the call site), ``"message"``,
            or a tuple of both.
    """
    if isinstance(key, str):
        key = (key,)
    if not key or any(k not in ("caller", "message") for k in key):
        raise ValueError(f"key must be 'caller', 'message' or a tuple of them; got {key!r}")
    caller_module, caller_key = _find_caller()
    hash_key: tuple = ()
    if "caller" in key:
        hash_key = hash_key + caller_key
    if "message" in key:
        hash_key = hash_key + (msg,)
    _LOG_COUNTER[hash_key] += 1
    if _LOG_COUNTER[hash_key] <= n:
        logging.getLogger(name or caller_module).log(lvl, msg)


def log_every_n(lvl: int, msg: str, n: int = 1, *, name: str | None = None) -> None:
    """Logs ``msg`` on the 1st, (n+1)-th, (2n+1)-th ... call from the same call site.

    Args:
        lvl: logging level.
        msg: the message.
        n: period in calls.
        name: logger name (default: the caller's module).
    """
    caller_module, key = _find_caller()
    _LOG_COUNTER[key] += 1
    if n == 1 or _LOG_COUNTER[key] % n == 1:
        logging.getLogger(name or caller_module).log(lvl, msg)


def log_every_n_seconds(lvl: int, msg: str, n: float = 1, *, name: str | None = None) -> None:
    """Logs ``msg`` at most once every ``n`` seconds per call site.

    Args:
        lvl: logging level.
        msg: the message.
        n: minimum number of seconds between two logs.
        name: logger name (default: the caller's module).
    """
    caller_module, key = _find_caller()
    last_logged = _LOG_TIMER.get(key)
    now = time.time()
    if last_logged is None or now - last_logged >= n:
        logging.getLogger(name or caller_module).log(lvl, msg)
        _LOG_TIMER[key] = now
