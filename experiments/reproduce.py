"""The reproduce driver: train, analyse, run the theory, build figures, tables, claims, report.

It only orchestrates: what to run comes from `experiments.registry`, how to train and analyse
from the same entry points a user calls (`nc_mixup.train.train_and_evaluate`,
`nc_mixup.analysis.run_analysis`, `python -m theory`).

Output folder OUT:
  runs/<run_id>/            training workdirs (checkpoints: an interrupted run resumes)
  analyses/<analysis_id>/   run_analysis outputs (metrics.json, activations.npz, figures)
  theory/<theory_id>/       python -m theory outputs (solution.json, plot.png/.pdf)
  metrics/<id>.json         the metrics JSON of every analysis (and every theory solution)
  figures/<experiment>-<name>.png/.pdf
  tables/<experiment>-<name>.csv/.md
  experiments/<name>.json   what each experiment produced and how long it took
  claims.json, report.html, timings.json, reproduce.json (profile and status)

Caching: a unit of work writes its marker `reproduce_done.json` last, holding the hash of what it
was computed from. A run is retrained when its resolved config changes (the config hash is part
of its folder name); an analysis is redone when its run was retrained or its options changed;
an experiment's figures and tables are rebuilt when any input (or the figure/table code)
changed. So rerunning a finished reproduce only rebuilds claims and the report.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from experiments import claims as claims_lib
from experiments import registry, report, tables
from experiments.registry import Analysis, Experiment, Run, Theory

MARKER = "reproduce_done.json"
Log = Callable[[str], None]


class ProfileMismatch(ValueError):
    """OUT already holds the results of another profile."""


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


def _read_json(path: pathlib.Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_json(path: pathlib.Path, obj: Any) -> None:
    """Writes atomically (temporary file + rename), so a marker is never half written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


@dataclasses.dataclass
class Status:
    """Outcome of one unit of work (run, analysis, theory call)."""

    ok: bool
    seconds: float | None = None
    cached: bool = False
    error: str | None = None
    skipped: bool = False  # not run: its data is not available here (not a failure)

    @property
    def text(self) -> str:
        if self.skipped:
            return f"skipped: {self.error}"
        if not self.ok:
            return f"failed: {self.error}"
        return "cached" if self.cached else "done"


# ---- units of work -------------------------------------------------------------------------


def run_dir(out: pathlib.Path, run: Run) -> pathlib.Path:
    return out / "runs" / run.run_id


def analysis_dir(out: pathlib.Path, analysis: Analysis) -> pathlib.Path:
    return out / "analyses" / analysis.analysis_id


def theory_dir(out: pathlib.Path, call: Theory) -> pathlib.Path:
    return out / "theory" / call.theory_id


def ensure_run(out: pathlib.Path, run: Run, log: Log) -> Status:
    """Trains `run` unless its marker says it finished with this config (resumes otherwise)."""
    workdir = run_dir(out, run)
    marker = _read_json(workdir / MARKER)
    if marker and marker.get("config_hash") == run.config_hash:
        if _final_checkpoint_restores(workdir, marker, log):
            return Status(True, marker.get("seconds"), cached=True)
    from nc_mixup.config import from_json
    from nc_mixup.train import train_and_evaluate

    log(f"  training {run.run_id}: {run.label}")
    start = time.perf_counter()
    summary = train_and_evaluate(from_json(run.config_json), str(workdir))
    seconds = time.perf_counter() - start
    if summary.get("interrupted"):
        # Stopped by a signal: the checkpoint is saved; the next reproduce resumes the run.
        raise KeyboardInterrupt(f"training of {run.run_id} interrupted at step {summary['step']}")
    if _is_main():
        _write_json(
            workdir / MARKER,
            {
                "config_hash": run.config_hash,
                "spec": run.spec,
                "seconds": seconds,
                "finished": _now(),
                "summary": summary,
            },
        )
    return Status(True, seconds)


def _is_main() -> bool:
    """Whether this is process 0 of a multi-process reproduce (or the only process): the one that
    writes markers, analyses, figures, tables, claims and the report."""
    from nc_mixup import distributed

    return distributed.is_main_process()


def missing_data(run: Run, cache: dict[str, str | None]) -> str | None:
    """Why the training data of `run` cannot be read here without a download (with the command
    that would prepare it), or None when it can. Decided without reading the data."""
    data = run.config["dataset"]
    key = json.dumps(data, sort_keys=True)
    if key not in cache:
        from nc_mixup.data import DatasetError, locate

        try:
            locate(
                data["name"],
                "train",
                data_dir=data.get("data_dir") or None,
                raw_dir=data.get("raw_dir") or None,
                source=data.get("source", "auto"),
                download=False,
            )
            cache[key] = None
        except DatasetError as e:
            cache[key] = str(e).splitlines()[0]
    return cache[key]


def _final_checkpoint_restores(workdir: pathlib.Path, marker: dict, log: Log) -> bool:
    """Whether the final checkpoint of a run whose marker says it finished (the step in the
    marker's summary) restores; if not, says why (the run is then trained again: resumed from
    the newest intact checkpoint, or from scratch)."""
    from nc_mixup.checkpointing import check_checkpoint

    step = (marker.get("summary") or {}).get("step")
    reason = check_checkpoint(workdir, step)
    if reason is not None:
        log(
            f"  {workdir.name}: marked finished, but its final checkpoint does not restore "
            f"({reason}): training it again"
        )
    return reason is None


def steps_per_epoch(workdir: pathlib.Path, config: dict) -> int:
    """Optimizer steps in one epoch of the run (from its training summary when available)."""
    summary = (_read_json(workdir / MARKER) or {}).get("summary") or {}
    if summary.get("epoch"):
        return round(summary["step"] / summary["epoch"])
    from nc_mixup.data import DATASETS

    data = config["dataset"]
    info = DATASETS[data["name"]]
    n = (
        data["n_per_class"] * info.num_classes
        if data["n_per_class"]
        else info.num_examples["train"]
    )
    return n // config["batch_size"]


def checkpoint_step(workdir: pathlib.Path, run: Run, epoch: int | None) -> int | None:
    """The checkpoint step of `epoch` (None: the final checkpoint, i.e. the latest)."""
    if epoch is None:
        return None
    step = epoch * steps_per_epoch(workdir, run.config)
    available = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    if step not in available:
        raise FileNotFoundError(
            f"no checkpoint for epoch {epoch} (step {step}) in {workdir}; "
            f"available steps {available}"
        )
    return step


def _analysis_key(out: pathlib.Path, analysis: Analysis) -> dict:
    run_marker = _read_json(run_dir(out, analysis.run) / MARKER) or {}
    return {"analysis_hash": analysis.analysis_hash, "run_finished": run_marker.get("finished")}


def cached_analysis(out: pathlib.Path, analysis: Analysis) -> Status | None:
    """The cached Status of `analysis` if it was done for this run (same training) and these
    options, else None."""
    marker = _read_json(analysis_dir(out, analysis) / MARKER)
    metrics_copy = out / "metrics" / f"{analysis.analysis_id}.json"
    if marker and marker.get("key") == _analysis_key(out, analysis) and metrics_copy.exists():
        return Status(True, marker.get("seconds"), cached=True)
    return None


def run_one_analysis(out: pathlib.Path, analysis: Analysis, log: Log) -> Status:
    """Runs `run_analysis` into the analysis folder and records it (metrics copy, marker). In a
    multi-process run the other processes take part (checkpoint restores are collective) but
    write into a temporary folder that is removed."""
    from nc_mixup.analysis import run_analysis

    main = _is_main()
    workdir = run_dir(out, analysis.run)
    key = _analysis_key(out, analysis)
    folder = analysis_dir(out, analysis) if main else pathlib.Path(tempfile.mkdtemp())
    if main:
        log(f"  analysing {analysis.analysis_id}")
    if folder.exists():
        shutil.rmtree(folder)
    start = time.perf_counter()
    try:
        run_analysis(
            str(workdir),
            str(folder),
            step=checkpoint_step(workdir, analysis.run, analysis.epoch),
            classes=list(analysis.classes),
            lambdas=analysis.lambdas,
            pairs_per_class=analysis.pairs_per_class,
            mode=analysis.mode,
            layers=_layers(analysis),
            seed=analysis.seed,
            progress=False,
            num_triples=analysis.num_triples,
            figures=analysis.figures and main,
            feature_mix_layer=analysis.feature_mix_layer,
        )
    finally:
        if not main:
            shutil.rmtree(folder, ignore_errors=True)
    seconds = time.perf_counter() - start
    if main:
        metrics_copy = out / "metrics" / f"{analysis.analysis_id}.json"
        metrics_copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / "metrics.json", metrics_copy)
        _write_json(
            folder / MARKER,
            {
                "key": key,
                "seconds": seconds,
                "finished": _now(),
                "options": analysis.options,
                "run_id": analysis.run.run_id,
            },
        )
    return Status(True, seconds)


def _layers(analysis: Analysis) -> list[str] | None:
    """`run_analysis`'s `layers`: "all" -> None (the analysis's default set of earlier layers:
    every one of moderate size, and always the last); a tuple -> those names (() = none)."""
    return None if analysis.layers == "all" else list(analysis.layers)


def ensure_theory(out: pathlib.Path, call: Theory, log: Log) -> Status:
    """Runs `python -m theory ARGS --json --plot` unless done with the same arguments."""
    folder = theory_dir(out, call)
    marker = _read_json(folder / MARKER)
    copy = out / "metrics" / f"theory-{call.theory_id}.json"
    if marker and marker.get("args") == list(call.args) and copy.exists():
        return Status(True, marker.get("seconds"), cached=True)
    log(f"  theory {call.theory_id}: python -m theory {' '.join(call.args)}")
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    cmd = [
        sys.executable,
        "-m",
        "theory",
        *call.args,
        "--json",
        str(folder / "solution.json"),
        "--plot",
        str(folder / "plot.png"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=registry_root())
    if proc.returncode != 0:
        raise RuntimeError(
            f"python -m theory exited {proc.returncode}: "
            f"{(proc.stderr or proc.stdout).strip()[-500:]}"
        )
    seconds = time.perf_counter() - start
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(folder / "solution.json", copy)
    _write_json(folder / MARKER, {"args": list(call.args), "seconds": seconds, "finished": _now()})
    return Status(True, seconds)


def registry_root() -> pathlib.Path:
    """The repository root (where `theory` and `experiments` are importable)."""
    return pathlib.Path(__file__).resolve().parents[1]


def _guard(fn: Callable[[], Status], what: str, log: Log) -> Status:
    """Runs one unit; an exception becomes a failed Status (logged) so the others go on."""
    try:
        return fn()
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - one failed unit must not stop the others
        log(f"  FAILED {what}: {type(e).__name__}: {e}")
        log("".join(traceback.format_exception(e))[-2000:])
        return Status(False, error=f"{type(e).__name__}: {e}")


# ---- records, figures and tables -----------------------------------------------------------


def record(out: pathlib.Path, experiment: str, analysis: Analysis) -> dict | None:
    """The record of one finished analysis (see `experiments.claims`), or None."""
    metrics = _read_json(out / "metrics" / f"{analysis.analysis_id}.json")
    if metrics is None:
        return None
    return {
        "experiment": experiment,
        "analysis_id": analysis.analysis_id,
        "run_id": analysis.run.run_id,
        "label": analysis.run.label,
        "tags": analysis.tags,
        "classes": list(analysis.classes),
        "num_epochs": analysis.run.config["num_epochs"],
        "evidence": analysis.evidence,
        "metrics": metrics,
    }


def _code_hash() -> str:
    here = pathlib.Path(__file__).resolve().parent
    return _digest([(here / f).read_text() for f in ("figures.py", "tables.py")])


def build_experiment(
    out: pathlib.Path, exp: Experiment, statuses: dict[str, Status], log: Log
) -> dict:
    """Figures, tables and the summary `experiments/<name>.json` of one experiment."""
    markers = [
        (_read_json(analysis_dir(out, a) / MARKER) or {}).get("finished") for a in exp.analyses
    ]
    theory_markers = [
        (_read_json(theory_dir(out, t) / MARKER) or {}).get("finished") for t in exp.theory
    ]
    inputs = _digest([markers, theory_markers, repr(exp.figures), repr(exp.tables), _code_hash()])
    summary_path = out / "experiments" / f"{exp.name}.json"
    previous = _read_json(summary_path)
    complete = all(markers) and all(theory_markers)
    if (
        previous
        and previous.get("inputs_hash") == inputs
        and complete
        and all((out / f["png"]).exists() for f in previous["figures"])
    ):
        return previous

    start = time.perf_counter()
    errors, figures_out, tables_out = [], [], []
    recs = {a.analysis_id: record(out, exp.name, a) for a in exp.analyses}
    for fig in exp.figures:
        stem = out / "figures" / f"{exp.name}-{fig.name}"
        if fig.analyses and all(
            statuses.get(a.analysis_hash, Status(False)).skipped for a in fig.analyses
        ):
            errors.append(f"no figure {fig.name}: its runs were skipped (data not available)")
            continue
        try:
            _build_figure(out, fig, recs, stem)
            figures_out.append(
                {
                    "name": fig.name,
                    "caption": fig.caption,
                    "png": str(stem.with_suffix(".png").relative_to(out)),
                    "pdf": str(stem.with_suffix(".pdf").relative_to(out)),
                }
            )
        except Exception as e:  # noqa: BLE001 - report the figure as missing, go on
            errors.append(f"figure {fig.name}: {type(e).__name__}: {e}")
            log(f"  FAILED figure {exp.name}-{fig.name}: {type(e).__name__}: {e}")
    for tab in exp.tables:
        rows = [recs[a.analysis_id] for a in tab.analyses if recs.get(a.analysis_id)]
        header, body = tables.build(rows, tab.tag_columns, tab.metric_columns)
        stem = out / "tables" / f"{exp.name}-{tab.name}"
        tables.write(stem, header, body, tab.caption)
        tables_out.append(
            {
                "name": tab.name,
                "caption": tab.caption,
                "csv": str(stem.with_suffix(".csv").relative_to(out)),
                "md": str(stem.with_suffix(".md").relative_to(out)),
            }
        )
    build_seconds = time.perf_counter() - start

    def seconds(items: Iterable[Any], key: Callable[[Any], str]) -> float:
        return sum(statuses[key(i)].seconds or 0.0 for i in items if key(i) in statuses)

    runs = list({r.config_hash: r for r in exp.runs}.values())
    t_train = seconds(runs, lambda r: r.config_hash)
    t_analyze = seconds(exp.analyses, lambda a: a.analysis_hash)
    t_theory = seconds(exp.theory, lambda t: t.theory_id)
    for unit in [*runs, *exp.analyses, *exp.theory]:
        st = statuses.get(_key(unit))
        if st is not None and not st.ok:
            errors.append(f"{_name(unit)}: {st.error}")
    summary = {
        "name": exp.name,
        "title": exp.title,
        "description": exp.description,
        "inputs_hash": inputs if complete else None,
        "errors": errors,
        "figures": figures_out,
        "tables": tables_out,
        "runs": [
            {
                "run_id": r.run_id,
                "label": r.label,
                "spec": r.spec,
                "config": r.config,
                "seconds": _secs(statuses, r),
                "status": _text(statuses, r),
            }
            for r in runs
        ],
        "analyses": [
            {
                "analysis_id": a.analysis_id,
                "label": a.label,
                "seconds": _secs(statuses, a),
                "status": _text(statuses, a),
            }
            for a in exp.analyses
        ],
        "theory": [
            {
                "theory_id": t.theory_id,
                "args": list(t.args),
                "seconds": _secs(statuses, t),
                "status": _text(statuses, t),
            }
            for t in exp.theory
        ],
        "seconds": {
            "train": t_train,
            "analyze": t_analyze,
            "theory": t_theory,
            "build": build_seconds,
            "total": t_train + t_analyze + t_theory + build_seconds,
        },
    }
    _write_json(summary_path, summary)
    return summary


def _key(unit: Run | Analysis | Theory) -> str:
    if isinstance(unit, Run):
        return unit.config_hash
    if isinstance(unit, Analysis):
        return unit.analysis_hash
    return unit.theory_id


def _name(unit: Run | Analysis | Theory) -> str:
    if isinstance(unit, Run):
        return f"run {unit.run_id}"
    if isinstance(unit, Analysis):
        return f"analysis {unit.analysis_id}"
    return f"theory {unit.theory_id}"


def _secs(statuses: dict[str, Status], unit: Run | Analysis | Theory) -> float | None:
    st = statuses.get(_key(unit))
    return None if st is None else st.seconds


def _text(statuses: dict[str, Status], unit: Run | Analysis | Theory) -> str:
    st = statuses.get(_key(unit))
    return "not run" if st is None else st.text


def _build_figure(
    out: pathlib.Path, fig: registry.Figure, recs: dict[str, dict | None], stem: pathlib.Path
) -> None:
    from experiments import figures

    if fig.kind == "theory_plot":
        figures.theory_plot([theory_dir(out, t) for t in fig.theory], stem)
        return
    done = [a for a in fig.analyses if recs.get(a.analysis_id)]
    if not done:
        raise FileNotFoundError("none of its analyses finished")
    figures.BUILDERS[fig.kind](
        [recs[a.analysis_id] for a in done],
        [analysis_dir(out, a) for a in done],
        stem,
        dict(fig.params),
    )


# ---- the whole pipeline --------------------------------------------------------------------


def _check_profile(out: pathlib.Path, profile: str, dry_run: bool = False) -> None:
    manifest = _read_json(out / "reproduce.json")
    if manifest and manifest.get("profile") not in (None, profile):
        raise ProfileMismatch(
            f"{out} holds results of profile {manifest['profile']!r}; "
            f"use another --out for profile {profile!r}"
        )
    if manifest and bool(manifest.get("dry_run", False)) != dry_run:
        what = "a dry run" if manifest.get("dry_run") else "a real run"
        raise ProfileMismatch(
            f"{out} holds results of {what} of profile {profile!r}; use "
            f"another --out {'with' if dry_run else 'without'} --dry-run"
        )


def environment() -> dict[str, str]:
    """Machine and software facts for the report."""
    info = {
        "machine": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs)",
        "python": platform.python_version(),
    }
    try:
        import jax

        info["jax"] = f"{jax.__version__} ({jax.default_backend()}, {jax.device_count()} device)"
    except Exception:  # noqa: BLE001 - informational only
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=registry_root(),
            timeout=10,
        ).stdout.strip()
        info["commit"] = commit or "unknown"
    except Exception:  # noqa: BLE001
        pass
    return info


def reproduce(
    profile: str,
    out: str | os.PathLike,
    only: list[str] | None = None,
    log: Log = print,
    *,
    dry_run: bool = False,
) -> dict:
    """Runs the experiments of `profile` (those named in `only`, default all) into `out`.

    `dry_run`: the profile's real networks shrunk to a few steps, images and pairs
    (experiments.dry_run), to prove every code path cheaply; its numbers mean nothing. Runs whose
    dataset is not available here are skipped (listed with the command that prepares it), not
    failed.

    Multi-process (after nc_mixup.distributed.initialize; OUT on a filesystem every process
    sees): every process trains (data parallel) and takes part in the analyses (their checkpoint
    restores are collective); only process 0 writes markers, analyses, figures, tables, claims
    and the report, while the others wait for it.

    Returns {"ok": bool, "claims": {...}, "timings": {...}, "report": path, "failed": [...],
    "skipped": [...]}. Raises KeyError for an unknown experiment name, ProfileMismatch if `out`
    holds another profile (or a dry run and a real one).
    """
    out = pathlib.Path(out).resolve()
    selected = registry.select(profile, only, dry_run)
    main = _is_main()
    _check_profile(out, profile, dry_run)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        _write_json(
            out / "reproduce.json",
            {
                "profile": profile,
                "dry_run": dry_run,
                "started": _now(),
                "only": only or list(registry.EXPERIMENT_NAMES),
            },
        )
    timings: dict[str, float] = {}
    statuses: dict[str, Status] = {}
    data_cache: dict[str, str | None] = {}

    runs = {r.config_hash: r for e in selected.values() for r in e.runs}
    analyses = {a.analysis_hash: a for e in selected.values() for a in e.analyses}
    calls = {t.theory_id: t for e in selected.values() for t in e.theory}
    log(
        f"reproduce: profile {profile}, {len(selected)} experiment(s), {len(runs)} run(s), "
        f"{len(analyses)} analyses, {len(calls)} theory call(s) -> {out}"
    )

    def phase(name: str, fn: Callable[[], None]) -> None:
        start = time.perf_counter()
        fn()
        timings[name] = time.perf_counter() - start
        log(f"[{name}] {timings[name]:.1f} s")

    def train() -> None:
        for i, (key, run) in enumerate(runs.items(), 1):
            missing = missing_data(run, data_cache)
            if missing:
                st = Status(False, error=missing, skipped=True)
            else:
                st = _guard(lambda run=run: ensure_run(out, run, log), f"run {run.run_id}", log)
            statuses[key] = st
            log(f"  [{i}/{len(runs)}] {run.run_id}: {st.text} ({_fmt_s(st.seconds)})")

    def analyze() -> None:
        # Every process decides what is cached before any of them writes (a barrier), so they
        # all run the same analyses (their checkpoint restores are collective).
        from nc_mixup import distributed

        cached = {key: cached_analysis(out, a) for key, a in analyses.items()}
        distributed.barrier("nc_mixup reproduce: analyses planned")
        for i, (key, a) in enumerate(analyses.items(), 1):
            run_status = statuses[a.run.config_hash]
            if not run_status.ok:
                statuses[key] = Status(
                    False,
                    skipped=run_status.skipped,
                    error=f"its run {a.run.run_id} "
                    f"{'was skipped' if run_status.skipped else 'failed'}",
                )
                continue
            st = cached[key] or _guard(
                lambda a=a: run_one_analysis(out, a, log), f"analysis {a.analysis_id}", log
            )
            statuses[key] = st
            log(f"  [{i}/{len(analyses)}] {a.analysis_id}: {st.text} ({_fmt_s(st.seconds)})")

    def theory() -> None:
        for key, call in calls.items():
            statuses[key] = _guard(
                lambda c=call: ensure_theory(out, c, log), f"theory {call.theory_id}", log
            )

    summaries: dict[str, dict] = {}

    def build() -> None:
        for name, exp in selected.items():
            summaries[name] = build_experiment(out, exp, statuses, log)

    every = registry.experiments(profile, dry_run)
    claims: dict[str, dict] = {}

    def compute_claims() -> None:
        recs = [
            r
            for name, exp in every.items()
            for a in exp.analyses
            if (r := record(out, name, a)) is not None
        ]
        claims.update(claims_lib.compute_claims(recs))
        _write_json(out / "claims.json", claims)
        tables.write(
            out / "tables" / "claims",
            *claims_lib.table(claims),
            "Claims: value (mean over units) with its 95% bootstrap interval, n units, "
            "the control's value and verdict, and the verdict (experiments/claims.py).",
        )
        from experiments import figures, theory_summary

        tables.write(
            out / "tables" / "theory_summary",
            *theory_summary.summarise(recs),
            theory_summary.CAPTION,
        )
        try:
            figures.claims_figure(claims, out / "figures" / "claims")
        except Exception as e:  # noqa: BLE001 - the report notes a missing figure
            log(f"  FAILED figure claims: {type(e).__name__}: {e}")

    phase("train", train)
    phase("analyze", analyze)
    if not main:  # process 0 writes the rest; the others wait for it, then exit together
        log(f"process {_process_index()}: training and analyses done; waiting for process 0")
        from nc_mixup import distributed

        distributed.wait_for(_DONE_KEY)
        return {
            "ok": all(st.ok or st.skipped for st in statuses.values()),
            "claims": {},
            "timings": timings,
            "report": None,
            "failed": [],
            "skipped": [],
        }

    def finish() -> dict:
        """Process 0's part after the analyses: theory, figures, tables, claims, report."""
        phase("theory", theory)
        phase("figures_tables", build)
        phase("claims", compute_claims)
        start = time.perf_counter()
        timings["report"] = 0.0
        timings["total"] = sum(timings.values())
        # the opt-in experiments that were run, now or earlier, are in the report too
        opt_in = [
            n
            for n in registry.OPT_IN
            if n in (only or ()) or (out / "experiments" / f"{n}.json").exists()
        ]
        names = list(registry.experiments(profile, dry_run, include=opt_in))
        path = report.build_report(
            out,
            profile=profile,
            experiment_names=names,
            claims=claims,
            timings=timings,
            environment=environment(),
        )
        timings["report"] = time.perf_counter() - start
        timings["total"] += timings["report"]
        _write_json(out / "timings.json", timings)

        units = {
            **{k: f"run {r.run_id}" for k, r in runs.items()},
            **{k: f"analysis {a.analysis_id}" for k, a in analyses.items()},
            **{k: f"theory {t.theory_id}" for k, t in calls.items()},
        }
        failed = [
            f"{units[k]}: {st.error}" for k, st in statuses.items() if not st.ok and not st.skipped
        ]
        failed += [
            f"{n}: {e}"
            for n, s in summaries.items()
            for e in s.get("errors", [])
            if e.startswith("figure ") and "none of its analyses finished" not in e
        ]
        skipped = sorted({st.error for k, st in statuses.items() if st.skipped and k in runs})
        skipped_runs = [runs[k].run_id for k, st in statuses.items() if st.skipped and k in runs]
        _write_json(
            out / "reproduce.json",
            {
                "profile": profile,
                "dry_run": dry_run,
                "finished": _now(),
                "only": only or list(registry.EXPERIMENT_NAMES),
                "failed": failed,
                "skipped_runs": skipped_runs,
                "skipped_because": skipped,
            },
        )
        if skipped_runs:
            log(
                f"skipped {len(skipped_runs)} run(s) whose data is not available here "
                f"({', '.join(skipped_runs)}):"
            )
            for why in skipped:
                log(f"  {why}")
        for key, c in claims.items():
            value = "n/a" if c["value"] is None else f"{c['value']:.4g}"
            ci = "" if c["ci"] is None else f" [{c['ci'][0]:.4g}, {c['ci'][1]:.4g}]"
            ctl = c["control"]
            ctl_text = "n/a" if ctl["value"] is None else f"{ctl['value']:.4g}"
            log(
                f"  {key}: {value}{ci} (n {c['n']}; rule {c['rule']}); control {ctl['name']} "
                f"{ctl_text}: {'HOLDS' if ctl['holds'] else 'fails'} -> "
                f"{'holds' if c['holds'] else 'DOES NOT HOLD'}"
            )
        log(f"report: {path}")
        return {
            "ok": not failed,
            "claims": claims,
            "timings": timings,
            "report": str(path),
            "failed": failed,
            "skipped": skipped_runs,
        }

    try:
        return finish()
    finally:
        from nc_mixup import distributed

        distributed.announce(_DONE_KEY)


_DONE_KEY = "nc_mixup_reproduce_done"


def _process_index() -> int:
    import jax

    return jax.process_index()


def _fmt_s(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds:.1f} s"
