"""Run metrics: one JSON object per line in WORKDIR/metrics.jsonl, and TensorBoard scalars.

Only process 0 writes (`enabled=False` elsewhere makes every call a no-op). On resume,
`truncate_after(step)` drops records of steps after the restored checkpoint (logged after it by a
run that died) from metrics.jsonl and, through tensorboardX's `purge_step`, from TensorBoard, so
both read as one uninterrupted run. A line that is not JSON (a torn write) is skipped with a
warning naming the file and line, and dropped at the next truncation.

The workdir may be local or a URL such as gs://bucket/run (`etils.epath`):
- local: each record is appended to metrics.jsonl and flushed as it is written, so a killed run
  keeps everything logged up to that point; TensorBoard events go to WORKDIR/tensorboard.
- not local (object stores cannot append): records are buffered and the whole metrics.jsonl is
  rewritten at each `flush()` (the training loop flushes at every checkpoint and evaluation, and
  `close()` flushes), so a preemption loses at most what was logged since the last flush, which
  the resumed run logs again. TensorBoard events (tensorboardX writes gs:// only with
  google-cloud-storage) are written to a local temporary folder and copied to WORKDIR/tensorboard
  at each flush.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from typing import Any

from etils import epath

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


def _plain(value: Any) -> Any:
    """numpy/jax scalars as Python numbers; non-finite floats as strings JSON accepts."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def is_local(path: str | os.PathLike) -> bool:
    """False for URLs (gs://bucket/..., s3://...), True for paths on this machine."""
    return "://" not in os.fspath(path)


def read_metrics(workdir: str | os.PathLike) -> list[dict[str, Any]]:
    """All records of WORKDIR/metrics.jsonl (empty if there is none); lines that are not a JSON
    object are skipped with a warning naming the file and line."""
    return _parse_lines(
        epath.Path(workdir) / METRICS_FILE, _read_lines(epath.Path(workdir) / METRICS_FILE)
    )


def _parse_lines(path: epath.Path, lines: list[str]) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            print(
                f"nc-mixup: warning: {path}, line {number}: not a JSON record, skipped",
                file=sys.stderr,
            )
            continue
        records.append(record)
    return records


def _read_lines(path: epath.Path) -> list[str]:
    """The non-empty lines of `path`, without their newline ([] if there is no such file)."""
    if not path.exists():
        return []
    return [line for line in path.read_text().split("\n") if line.strip()]


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
    """Writes metric records to metrics.jsonl and TensorBoard (see the module docstring).

    `buffered` (default: the workdir is not local) selects the rewrite-at-flush mode of non-local
    workdirs; tests set it on a local folder.
    """

    def __init__(
        self,
        workdir: str | os.PathLike,
        *,
        enabled: bool = True,
        buffered: bool | None = None,
    ):
        self.workdir = epath.Path(workdir)
        self.enabled = enabled
        self.buffered = not is_local(workdir) if buffered is None else buffered
        self._tb = None
        self._file = None
        self._lines: list[str] = []  # buffered mode: the whole metrics.jsonl
        self._tb_local: str | None = None  # buffered mode: where TensorBoard events are written
        self._purge_step: int | None = None  # TensorBoard events from this step on are dropped
        if enabled:
            self.workdir.mkdir(parents=True, exist_ok=True)
            if self.buffered:
                self._lines = _read_lines(self.workdir / METRICS_FILE)
            else:
                self._file = (self.workdir / METRICS_FILE).open("a")

    def _summary_writer(self):
        if self._tb is None:
            if self.buffered:
                self._tb_local = tempfile.mkdtemp(prefix="nc_mixup_tb_")
                logdir = self._tb_local
            else:
                logdir = str(self.workdir / TENSORBOARD_DIR)
            # A unique file name: tensorboardX names event files by the second and the host, so
            # a writer opened in the same second as an earlier one would overwrite its file.
            suffix = f".{os.getpid()}.{time.time_ns()}"
            self._tb = _import_summary_writer()(
                logdir, purge_step=self._purge_step, filename_suffix=suffix
            )
        return self._tb

    def write(self, record: Mapping[str, Any], *, step: int, prefix: str = "") -> None:
        """One metrics.jsonl line (`record` as given) and a TensorBoard scalar per number."""
        if not self.enabled:
            return
        line = {k: _plain(v) for k, v in record.items()}
        if self.buffered:
            self._lines.append(json.dumps(line))
        else:
            self._file.write(json.dumps(line) + "\n")
            self._file.flush()
        tb = self._summary_writer()
        for key, value in line.items():
            if key in ("step", "epoch") or isinstance(value, bool):
                continue
            if isinstance(value, int | float):
                tb.add_scalar(f"{prefix}{key}", value, step)

    def truncate_after(self, step: int) -> None:
        """Drops the records whose 'step' is greater than `step` (before appending more), from
        metrics.jsonl and TensorBoard (its events of later steps are purged when the event
        writer opens); lines that are not JSON records are dropped too."""
        if not self.enabled:
            return
        if self._tb is None:
            self._purge_step = step + 1
        path = self.workdir / METRICS_FILE
        if self.buffered:
            records = _parse_lines(path, self._lines)
            kept = [r for r in records if int(r.get("step", 0)) <= step]
            if len(kept) != len(self._lines):
                self._lines = [json.dumps(r) for r in kept]
                self.flush()
            return
        lines = _read_lines(path)
        records = _parse_lines(path, lines)
        kept = [r for r in records if int(r.get("step", 0)) <= step]
        if len(kept) == len(lines):
            return
        self._file.close()
        tmp = self.workdir / (METRICS_FILE + ".tmp")
        with tmp.open("w") as f:
            for r in kept:
                f.write(json.dumps(r) + "\n")
        os.replace(tmp, self.workdir / METRICS_FILE)
        self._file = (self.workdir / METRICS_FILE).open("a")

    def flush(self) -> None:
        """Local: flushes the files. Buffered: rewrites metrics.jsonl and copies the TensorBoard
        events to the workdir."""
        if not self.enabled:
            return
        if self._tb is not None:
            self._tb.flush()
        if not self.buffered:
            self._file.flush()
            return
        (self.workdir / METRICS_FILE).write_text("".join(line + "\n" for line in self._lines))
        if self._tb_local is not None:
            _copy_tree(self._tb_local, self.workdir / TENSORBOARD_DIR)

    def close(self) -> None:
        if not self.enabled:
            return
        if self._tb is not None:
            self._tb.close()
        if self.buffered:
            self.flush()
            if self._tb_local is not None:
                shutil.rmtree(self._tb_local, ignore_errors=True)
        else:
            self._file.close()
        self.enabled = False


def _copy_tree(src: str, dst: epath.Path) -> None:
    """Copies the files under the local folder `src` to `dst` (any epath), overwriting."""
    for root, _, files in os.walk(src):
        target = dst / os.path.relpath(root, src)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                (target / name).write_bytes(f.read())
