"""Run metrics: one JSON object per line in WORKDIR/metrics.jsonl, and TensorBoard scalars.

Only process 0 writes (`enabled=False` elsewhere makes every call a no-op). Each record is
flushed as it is written, so a killed run keeps everything logged up to that point. On resume,
`truncate_after(step)` drops records of steps after the restored checkpoint (logged after it by a
run that died), so the resumed file reads as one uninterrupted run.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import sys
from collections.abc import Mapping
from typing import Any

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


def _plain(value: Any) -> Any:
    """numpy/jax scalars as Python numbers; non-finite floats as strings JSON accepts."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def read_metrics(workdir: str | os.PathLike) -> list[dict[str, Any]]:
    """All records of WORKDIR/metrics.jsonl (empty if there is none)."""
    path = pathlib.Path(workdir) / METRICS_FILE
    if not path.exists():
        return []
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def _import_summary_writer():
    """tensorboardX.SummaryWriter, imported without PyTorch.

    tensorboardX imports torch when it is installed (here: the benchmark extra), only to accept
    torch tensors; that costs seconds per process and we log plain floats. Hiding torch during
    the import avoids it; `import torch` works as usual afterwards.
    """
    hide = "torch" not in sys.modules
    if hide:
        sys.modules["torch"] = None  # type: ignore[assignment]  # makes `import torch` fail
    try:
        from tensorboardX import SummaryWriter
    finally:
        if hide:
            del sys.modules["torch"]
    return SummaryWriter


class MetricsWriter:
    """Appends metric records to metrics.jsonl and TensorBoard."""

    def __init__(self, workdir: str | os.PathLike, *, enabled: bool = True):
        self.workdir = pathlib.Path(workdir)
        self.enabled = enabled
        self._tb = None
        self._file = None
        if enabled:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self._file = (self.workdir / METRICS_FILE).open("a")

    def _summary_writer(self):
        if self._tb is None:
            self._tb = _import_summary_writer()(str(self.workdir / TENSORBOARD_DIR))
        return self._tb

    def write(self, record: Mapping[str, Any], *, step: int, prefix: str = "") -> None:
        """One metrics.jsonl line (`record` as given) and a TensorBoard scalar per number."""
        if not self.enabled:
            return
        line = {k: _plain(v) for k, v in record.items()}
        self._file.write(json.dumps(line) + "\n")
        self._file.flush()
        tb = self._summary_writer()
        for key, value in line.items():
            if key in ("step", "epoch") or isinstance(value, bool):
                continue
            if isinstance(value, int | float):
                tb.add_scalar(f"{prefix}{key}", value, step)

    def truncate_after(self, step: int) -> None:
        """Drops the records whose 'step' is greater than `step` (before appending more)."""
        if not self.enabled:
            return
        records = read_metrics(self.workdir)
        kept = [r for r in records if int(r.get("step", 0)) <= step]
        if len(kept) == len(records):
            return
        self._file.close()
        tmp = self.workdir / (METRICS_FILE + ".tmp")
        with tmp.open("w") as f:
            for r in kept:
                f.write(json.dumps(r) + "\n")
        os.replace(tmp, self.workdir / METRICS_FILE)
        self._file = (self.workdir / METRICS_FILE).open("a")

    def flush(self) -> None:
        if self.enabled:
            self._file.flush()
            if self._tb is not None:
                self._tb.flush()

    def close(self) -> None:
        if self.enabled:
            self._file.close()
            if self._tb is not None:
                self._tb.close()
            self.enabled = False
