"""Printing and checking evaluation results the way detectron2 users parse them.

``print_csv_format`` logs the ``copypaste:`` blocks that the EVA-02 README quotes, e.g.::

    copypaste: Task: bbox
    copypaste: AP,AP50,AP75,APs,APm,APl
    copypaste: 55.5017,73.6542,60.7133,39.0219,59.1853,70.3349
"""

from __future__ import annotations

import logging
import math
import pprint
from collections import abc
from collections.abc import Mapping, Sequence

__all__ = [
    "print_csv_format",
    "verify_results",
    "flatten_results_dict",
    "create_small_table",
    "create_table",
    "MMSEG_SUMMARY_KEYS",
]

logger = logging.getLogger(__name__)

# Result keys under which SemSegEvaluator stores mmsegmentation's summary numbers; the "-" keeps
# them out of the copypaste line, like per-class metrics.
MMSEG_SUMMARY_KEYS = {"aAcc": "mmseg-aAcc", "mIoU": "mmseg-mIoU", "mAcc": "mmseg-mAcc"}


def _format_cell(value: object, float_fmt: str) -> str:
    if isinstance(value, float):
        return format(value, float_fmt)
    return str(value)


def create_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], float_fmt: str = ".3f"
) -> str:
    """A pipe table (Markdown style), e.g. for per-category AP.

    Args:
        headers: column names.
        rows: rows of cells; floats are formatted with ``float_fmt``, short rows are padded.
        float_fmt: format spec for float cells.

    Returns:
        The table as one string (no trailing newline).
    """
    cells = [[_format_cell(v, float_fmt) for v in row] for row in rows]
    cells = [row + [""] * (len(headers) - len(row)) for row in cells]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    lines = [
        "| " + " | ".join(h.center(w) for h, w in zip(headers, widths)) + " |",
        "|" + "|".join(":" + "-" * w + ":" for w in widths) + "|",
    ]
    lines += ["| " + " | ".join(c.center(w) for c, w in zip(row, widths)) + " |" for row in cells]
    return "\n".join(lines)


def create_small_table(small_dict: Mapping[str, object], float_fmt: str = ".3f") -> str:
    """A one-row table whose headers are the keys of ``small_dict``."""
    return create_table(list(small_dict.keys()), [list(small_dict.values())], float_fmt)


def _boxed_table(headers: Sequence[str], values: Sequence[str]) -> str:
    widths = [max(len(h), len(v)) + 2 for h, v in zip(headers, values)]
    rule = "+" + "+".join("-" * w for w in widths) + "+"
    head = "|" + "|".join(h.center(w) for h, w in zip(headers, widths)) + "|"
    row = "|" + "|".join(v.center(w) for v, w in zip(values, widths)) + "|"
    return "\n".join([rule, head, rule, row, rule])


def print_csv_format(results: Mapping) -> None:
    """Log ``results`` in the ``copypaste:`` format (logger ``det.evaluation.testing``).

    Per task: ``copypaste: Task: <task>``, the comma-joined metric names, and the values formatted
    ``{:.4f}``. Metrics whose name contains ``-`` (per-category ``AP-<class>``, ``IoU-<class>``...)
    are left out. For semantic segmentation the line is ``mIoU,fwIoU,mACC,pACC`` and is followed by
    mmsegmentation's ``aAcc / mIoU / mAcc`` summary table (percent, 2 decimals). A non-dict result
    is printed as ``copypaste: <task>=<value>``.

    Args:
        results: ``{task: {metric: value}}`` as returned by an evaluator (an ordered dict keeps
            bbox before segm).
    """
    if not isinstance(results, abc.Mapping):
        raise TypeError(f"print_csv_format expects a dict of results, got {type(results)}")
    for task, res in results.items():
        if not isinstance(res, abc.Mapping):
            logger.info(f"copypaste: {task}={res}")
            continue
        important = [(k, v) for k, v in res.items() if "-" not in k]
        logger.info(f"copypaste: Task: {task}")
        logger.info("copypaste: " + ",".join(k for k, _ in important))
        logger.info("copypaste: " + ",".join(f"{v:.4f}" for _, v in important))
        if all(key in res for key in MMSEG_SUMMARY_KEYS.values()):
            names = list(MMSEG_SUMMARY_KEYS)
            values = [f"{res[MMSEG_SUMMARY_KEYS[n]]:.2f}" for n in names]
            logger.info(
                f"Summary ({task}, mmsegmentation metrics):\n" + _boxed_table(names, values)
            )


def verify_results(
    results: Mapping, expected_results: Sequence[tuple[str, str, float, float]]
) -> bool:
    """Check results against expected values (detectron2's ``TEST.EXPECTED_RESULTS`` check).

    Args:
        results: ``{task: {metric: value}}``.
        expected_results: ``(task, metric, expected value, tolerance)`` tuples.

    Returns:
        True if every metric exists, is finite and is within its tolerance; otherwise the mismatch
        is logged as an error and False is returned.
    """
    ok = True
    for task, metric, expected, tolerance in expected_results:
        actual = results.get(task, {}).get(metric)
        if actual is None or not math.isfinite(actual) or abs(actual - expected) > tolerance:
            logger.error(
                f"Result verification failed for {task}/{metric}: expected {expected} "
                f"+- {tolerance}, got {actual}"
            )
            ok = False
    if ok:
        logger.info("Results verification passed.")
    else:
        logger.error("Actual results:\n" + pprint.pformat(dict(results)))
    return ok


def flatten_results_dict(results: Mapping) -> dict:
    """Flatten nested dicts into one level, joining keys with ``/``.

    ``{"bbox": {"AP": 50.0}}`` becomes ``{"bbox/AP": 50.0}`` (the names written to the event
    storage, ``metrics.json`` and TensorBoard).
    """
    flat = {}
    for key, value in results.items():
        if isinstance(value, abc.Mapping):
            for sub_key, sub_value in flatten_results_dict(value).items():
                flat[f"{key}/{sub_key}"] = sub_value
        else:
            flat[key] = value
    return flat
