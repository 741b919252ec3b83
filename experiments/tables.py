"""Tables of an experiment: one row per analysis, tag columns then metric columns.

Pure functions of the records (see `experiments.claims` for the record format); written as CSV
(full precision) and Markdown (4 significant digits).
"""

from __future__ import annotations

import csv
import io
import math
import pathlib
from collections.abc import Sequence
from typing import Any

Row = list[Any]


def build(
    records: Sequence[dict], tag_columns: Sequence[str], metric_columns: Sequence[str]
) -> tuple[list[str], list[Row]]:
    """(header, rows): `run` (the run id), the tags, then the metrics (None when missing)."""
    header = ["run", *tag_columns, *metric_columns]
    rows = []
    for r in records:
        row: Row = [r["run_id"]]
        row += [r["tags"].get(t) for t in tag_columns]
        row += [r["metrics"].get(m) for m in metric_columns]
        rows.append(row)
    return header, rows


def fmt(value: Any) -> str:
    """A cell as text: 4 significant digits for floats, '' for missing, yes/no for booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}"
    return str(value)


def to_csv(header: Sequence[str], rows: Sequence[Row]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


def to_markdown(header: Sequence[str], rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write(
    stem: pathlib.Path, header: Sequence[str], rows: Sequence[Row], caption: str = ""
) -> list[pathlib.Path]:
    """Writes `stem`.csv and `stem`.md (caption as the Markdown's first line); returns both."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = stem.with_suffix(".csv"), stem.with_suffix(".md")
    csv_path.write_text(to_csv(header, rows))
    md_path.write_text((f"{caption}\n\n" if caption else "") + to_markdown(header, rows))
    return [csv_path, md_path]


def read_csv(path: pathlib.Path) -> tuple[list[str], list[list[str]]]:
    """(header, rows of strings) of a table written by `write`."""
    with open(path, newline="") as f:
        data = list(csv.reader(f))
    return (data[0], data[1:]) if data else ([], [])
