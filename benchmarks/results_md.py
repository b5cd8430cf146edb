"""The one writer of ``benchmarks/RESULTS.md``.

Each benchmark script owns sections between its own HTML-comment markers and replaces only
those, so the scripts can be rerun independently and in any order.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["RESULTS_MD", "markdown_table", "write_section"]

RESULTS_MD = Path(__file__).resolve().with_name("RESULTS.md")

_HEADER = (
    "# Benchmark results\n\nEach section is written by the script it names; rerun the script "
    "to refresh it. Numbers from different machines are not comparable.\n"
)


def write_section(begin: str, end: str, body: str, path: str | os.PathLike = RESULTS_MD) -> None:
    """Replaces the section between the markers ``begin`` and ``end`` in ``path`` (atomically).

    Args:
        begin: opening marker, e.g. ``"<!-- soft_nms -->"``.
        end: closing marker.
        body: the new text between the markers (Markdown).
        path: the results file; created with a short header if missing. A file without the
            markers gets the section appended.
    """
    path = Path(path)
    block = f"{begin}\n{body.strip(chr(10))}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else _HEADER
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def markdown_table(
    rows: Sequence[Mapping[str, object]],
    columns: Sequence[str],
    formats: Mapping[str, str] | None = None,
) -> str:
    """A Markdown table of ``rows`` (dicts keyed by column name) in the order of ``columns``.

    Floats are printed with one decimal unless ``formats`` gives the column a format string
    (e.g. ``{"max rel. diff": "{:.1e}"}``); everything else with ``str``.
    """
    formats = formats or {}

    def cell(column: str, value: object) -> str:
        if column in formats:
            return formats[column].format(value)
        return f"{value:.1f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(cell(c, row[c]) for c in columns) + " |")
    return "\n".join(lines)
