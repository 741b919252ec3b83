"""Figures that combine several analyses (one panel per run or snapshot), PNG + PDF.

Each builder takes the records of its analyses (see `experiments.claims`), the analysis output
folders and the path stem to write, and returns the files written. Figures of a single analysis
(reliability diagram, confidence vs lambda, density, earlier layers) are drawn by
`nc_mixup.analysis`; `analysis_figure` puts them side by side.
"""

from __future__ import annotations

import math
import pathlib
import shutil
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nc_mixup.analysis import plots  # noqa: E402
from nc_mixup.analysis.projection import project, project_boundaries  # noqa: E402

Paths = list[pathlib.Path]


def _save(fig: plt.Figure, stem: pathlib.Path) -> Paths:
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, pdf = stem.with_suffix(".png"), stem.with_suffix(".pdf")
    fig.savefig(png, dpi=120, bbox_inches="tight")
    fig.savefig(pdf, bbox_inches="tight")
    plt.close(fig)
    return [png, pdf]


def _grid(
    n: int, size: float = 3.6, max_cols: int = 5, aspect: float = 1.0
) -> tuple[plt.Figure, np.ndarray]:
    """A figure with n panels of width `size` and height `size / aspect`, `max_cols` a row."""
    cols = min(n, max_cols)
    rows = -(-n // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(size * cols, size / aspect * rows + 0.4), squeeze=False
    )
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, axes.flat[:n]


def projection_panel(
    ax: plt.Axes, acts: dict[str, np.ndarray], classes: Sequence[int], title: str
) -> list:
    """Mixed activations in the B.2 plane of the classifier rows `classes` of W, drawn the
    way `nc_mixup.analysis.plots` draws a single analysis (decision boundaries dashed)."""
    W = np.asarray(acts["W"], dtype=np.float64)
    b = np.asarray(acts["b"], dtype=np.float64)
    cls = list(classes)
    W3 = W[cls]
    keep = np.isin(acts["y1"], cls) & np.isin(acts["y2"], cls)
    P2 = project(np.asarray(acts["H"], dtype=np.float64)[keep], W3)
    arts = plots.draw_projection(
        ax,
        P2,
        acts["y1"][keep],
        acts["y2"][keep],
        np.asarray(acts["lam"])[keep],
        project(W3, W3),
        [f"class {c}" for c in cls],
        project_boundaries(W3, b[cls]),
        size=3,
    )
    ax.set_title(title, fontsize=8)
    return arts


def projection_grid(
    records: Sequence[dict],
    dirs: Sequence[pathlib.Path],
    stem: pathlib.Path,
    params: dict[str, Any],
) -> Paths:
    """One projection panel per analysis (`activations.npz` in each folder)."""
    fig, axes = _grid(len(records))
    arts = None
    for ax, record, folder in zip(axes, records, dirs, strict=True):
        with np.load(folder / "activations.npz") as f:
            acts = {k: f[k] for k in ("H", "y1", "y2", "lam", "W", "b")}
        arts = projection_panel(ax, acts, record["classes"], _title(record))
    _colorbars(fig, arts)
    return _save(fig, stem)


def _colorbars(fig: plt.Figure, arts: list) -> None:
    """Two horizontal colour bars under the panels: lambda of same- and different-class pairs."""
    fig.subplots_adjust(bottom=0.16)
    for i, (art, name) in enumerate(zip(arts, ("same class", "different classes"), strict=True)):
        cax = fig.add_axes((0.12 + 0.42 * i, 0.05, 0.34, 0.025))
        bar = fig.colorbar(art, cax=cax, orientation="horizontal")
        bar.set_label(f"lambda ({name})", fontsize=8)
        bar.ax.tick_params(labelsize=7)


def _title(record: dict) -> str:
    """The run's label and epoch, wrapped to fit a panel (about 40 characters a line)."""
    import textwrap

    epoch = record["tags"].get("epoch", "final")
    text = record["label"].replace(" / ", "/")
    if epoch == "final":
        text += f" @ epoch {record['num_epochs']} (final)"
    elif epoch == 0:
        text += " @ initialisation"
    else:
        text += f" @ epoch {epoch}"
    return "\n".join(textwrap.wrap(text, 40))


def analysis_figure(
    records: Sequence[dict],
    dirs: Sequence[pathlib.Path],
    stem: pathlib.Path,
    params: dict[str, Any],
) -> Paths:
    """The figure `<stem>.png` that each analysis wrote, side by side, titled by run."""
    images = []
    for record, folder in zip(records, dirs, strict=True):
        path = folder / f"{params['stem']}.png"
        if path.exists():
            images.append((_title(record), path))
    if not images:
        raise FileNotFoundError(
            f"no analysis figure {params['stem']}.png in {', '.join(str(d) for d in dirs)}"
        )
    pixels = [mpimg.imread(path) for _, path in images]
    aspect = max(p.shape[1] / p.shape[0] for p in pixels)
    wide = aspect > 2.0  # e.g. one panel per layer: stack them vertically
    fig, axes = _grid(
        len(images),
        size=min(4.2 * aspect, 14.0) if wide else 4.8,
        max_cols=1 if wide else 3,
        aspect=aspect,
    )
    for ax, (title, _), image in zip(axes, images, pixels, strict=True):
        ax.imshow(image)
        ax.set_title(title, fontsize=7)
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, stem)


def metric_curves(
    records: Sequence[dict],
    dirs: Sequence[pathlib.Path],
    stem: pathlib.Path,
    params: dict[str, Any],
) -> Paths:
    """Metrics vs training epoch (one line per run, one panel per metric)."""
    metrics = list(params["metrics"])
    fig, axes = _grid(len(metrics), size=3.0)
    runs: dict[str, list[tuple[float, dict]]] = {}
    for record in records:
        epoch = record["tags"]["epoch"]
        epoch = record["num_epochs"] if epoch == "final" else epoch
        runs.setdefault(record["run_id"], []).append((float(epoch), record["metrics"]))
    for ax, key in zip(axes, metrics, strict=True):
        for run_id, points in runs.items():
            points.sort(key=lambda p: p[0])
            xs = [e for e, _ in points]
            ys = [np.nan if m.get(key) is None else float(m[key]) for _, m in points]
            ax.plot(xs, ys, "o-", ms=3, label=run_id[:-9])
        ax.set_xlabel("epoch", fontsize=7)
        ax.set_title(key, fontsize=8)
        ax.tick_params(labelsize=6)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    return _save(fig, stem)


def ece_bars(
    records: Sequence[dict],
    dirs: Sequence[pathlib.Path],
    stem: pathlib.Path,
    params: dict[str, Any],
) -> Paths:
    """Test ECE with and without mixup, grouped by (architecture, dataset, optimizer): the mean
    over seeds (bar) and each seed (dot)."""
    cells: dict[str, dict[bool, list[float]]] = {}
    for r in records:
        t = r["tags"]
        key = f"{t['arch']}\n{t['dataset']}\n{t['optimizer']}"
        value = r["metrics"].get("ece")
        cells.setdefault(key, {}).setdefault(bool(t["mixup"]), []).append(
            np.nan if value is None else float(value)
        )
    groups = ((False, "without mixup", "tab:gray"), (True, "with mixup", "tab:orange"))
    return _grouped_bars(cells, groups, "test ECE (15 bins); dots: seeds", stem, 1.6)


def _grouped_bars(
    cells: dict[str, dict[Any, list[float]]],
    groups: Sequence[tuple[Any, str, str]],
    ylabel: str,
    stem: pathlib.Path,
    inches_per_name: float,
) -> Paths:
    """Bars of the mean of `cells[name][key]` for each (key, label, colour) of `groups`, side by
    side per name, with each value as a dot."""
    names = list(cells)
    x = np.arange(len(names))
    width = 0.8 / len(groups)
    fig, ax = plt.subplots(figsize=(inches_per_name * max(len(names), 1) + 2.0, 3.2))
    for i, (key, label, colour) in enumerate(groups):
        offset = (i - (len(groups) - 1) / 2) * width
        vals = [cells[n].get(key, []) for n in names]
        ax.bar(
            x + offset,
            [np.mean(v) if v else np.nan for v in vals],
            width=width,
            color=colour,
            alpha=0.7,
            label=label,
        )
        for xi, v in zip(x, vals, strict=True):
            ax.plot(np.full(len(v), xi + offset), v, "k.", ms=4)
    ax.set_xticks(x, names, fontsize=7)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, stem)


def claims_figure(claims: dict[str, dict], stem: pathlib.Path) -> Paths:
    """One panel per claim: its statistic per unit of replication (dots), evidence and control
    side by side per architecture, the mean with its 95% interval (bar), the threshold (dashed)
    and the verdict in the title."""
    keys = [k for k, c in claims.items() if c.get("points")]
    fig, axes = _grid(max(len(keys), 1), size=3.4, max_cols=4, aspect=1.1)
    rng = np.random.default_rng(0)
    for ax, key in zip(axes, keys, strict=False):
        c = claims[key]
        groups = [("evidence", c["points"], c["cells"], "tab:blue")]
        for ctl in c.get("controls", [])[:2]:
            groups.append(
                (
                    ctl["name"],
                    ctl.get("points") or [],
                    ctl.get("cells") or {},
                    "tab:gray" if len(groups) == 1 else "tab:olive",
                )
            )
        labels, pos = [], 0
        cells = sorted({p["cell"] for _, pts, _, _ in groups for p in pts})
        for cell in cells:
            for name, pts, stats, colour in groups:
                v = [p["value"] for p in pts if p["cell"] == cell and p["value"] is not None]
                ax.plot(
                    pos + rng.uniform(-0.15, 0.15, len(v)), v, ".", color=colour, ms=4, alpha=0.8
                )
                st = (stats.get(cell) or {}).get("rules") or [{}]
                if st[0].get("ci") and st[0]["ci"][0] is not None:
                    lo, hi = st[0]["ci"]
                    ax.errorbar(
                        pos + 0.3,
                        st[0]["value"],
                        yerr=[[st[0]["value"] - lo], [hi - st[0]["value"]]],
                        fmt="o",
                        color="black",
                        ms=3,
                        capsize=3,
                        lw=1,
                    )
                labels.append(f"{cell.split('/')[0]}\n{name[:18]}")
                pos += 1
        ax.axhline(c["threshold"], ls="--", color="tab:red", lw=1)
        ax.set_xticks(range(len(labels)), labels, fontsize=5.5, rotation=30, ha="right")
        ax.tick_params(axis="y", labelsize=6)
        verdict = "holds" if c["holds"] else "does not hold"
        version = f" (v{c.get('version', 1)})"
        ax.set_title(f"{key}{version}\n{c['statistic'][:40]}: {verdict}", fontsize=7)
    fig.tight_layout()
    return _save(fig, stem)


def theory_plot(theory_dirs: Sequence[pathlib.Path], stem: pathlib.Path) -> Paths:
    """Copies the plot `python -m theory solve --plot` wrote (PNG and PDF)."""
    out = []
    for suffix in (".png", ".pdf"):
        src = theory_dirs[0] / f"plot{suffix}"
        dst = stem.with_suffix(suffix)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        out.append(dst)
    return out


RESIDUAL_FACTORS = ("epoch", "weight decay", "depth", "width", "classifier")
RESIDUAL_KEYS = (
    "theory_delta_straight",
    "theory_delta_straight_p2",
    "theory_fit_power",
    "theory_rel_dist_heldout",
    "theory_rel_dist_straight_heldout",
    "theory_confidence_rmse",
    "theory_confidence_rmse_same",
)


def residual_stats(records: Sequence[dict], groups: Sequence[tuple]) -> list[dict]:
    """Per (factor, level) of the theory_residual study: n (analyses = seeds), their ids and, for
    each of RESIDUAL_KEYS, the mean, the 95% bootstrap interval over seeds and the values (in
    the order of the ids; None where missing)."""
    from experiments.claims import bootstrap_ci

    by_id = {r["analysis_id"]: r for r in records}
    cells: dict[tuple, list[dict]] = {}
    for factor, level, aid in groups:
        if aid in by_id:
            cells.setdefault((factor, level), []).append((aid, by_id[aid]["metrics"]))
    out = []
    for (factor, level), ms in cells.items():
        row: dict[str, Any] = {
            "factor": factor,
            "level": level,
            "n": len(ms),
            "ids": [aid for aid, _ in ms],
        }
        for key in RESIDUAL_KEYS:
            vals = [None if m.get(key) is None else float(m[key]) for _, m in ms]
            ok = [v for v in vals if v is not None]
            row[key] = {
                "mean": float(np.mean(ok)) if ok else None,
                "ci": list(bootstrap_ci(ok)) if len(ok) > 1 else [None, None],
                "values": vals,
            }
        out.append(row)
    return out


def residual_study(
    records: Sequence[dict],
    dirs: Sequence[pathlib.Path],
    stem: pathlib.Path,
    params: dict[str, Any],
) -> Paths:
    """The theory_residual study: per factor (one panel) the held-out margin over the straight
    chord at each level, p fitted (filled) and p = 2 (open), seeds as dots, with the mean's 95%
    bootstrap interval; also writes `<stem>.json` (residual_stats) for the report."""
    import json

    stats = residual_stats(records, params["groups"])
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(stats, indent=1))
    factors = [f for f in RESIDUAL_FACTORS if any(r["factor"] == f for r in stats)]
    fig, axes = _grid(len(factors), size=3.0)
    for ax, factor in zip(axes, factors, strict=True):
        rows = [r for r in stats if r["factor"] == factor]
        labels = [str(r["level"]) for r in rows]
        x = np.arange(len(rows))
        for key, offset, face in (
            ("theory_delta_straight", -0.1, "tab:blue"),
            ("theory_delta_straight_p2", 0.1, "white"),
        ):
            means = [np.nan if r[key]["mean"] is None else r[key]["mean"] for r in rows]
            lo = [np.nan if r[key]["ci"][0] is None else r[key]["ci"][0] for r in rows]
            hi = [np.nan if r[key]["ci"][1] is None else r[key]["ci"][1] for r in rows]
            err = np.abs(np.array([np.subtract(means, lo), np.subtract(hi, means)]))
            ax.errorbar(
                x + offset,
                means,
                yerr=np.nan_to_num(err),
                fmt="o",
                mfc=face,
                color="tab:blue",
                capsize=3,
                label="p fitted" if face != "white" else "p = 2",
            )
            for xi, r in zip(x, rows, strict=True):
                v = [np.nan if u is None else u for u in r[key]["values"]]
                ax.plot(np.full(len(v), xi + offset), v, "k.", ms=3)
        ax.axhline(0.0, color="gray", lw=0.8, ls="--")
        ax.set_xticks(x, labels, fontsize=7)
        ax.set_title(factor, fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("held-out delta: straight - theory", fontsize=7)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    return _save(fig, stem)


#: (experiments.claims.run_role, label, colour) of the kinds of network the C6 figure compares.
MIXED_LABEL_ROLES = (
    ("mixup", "input mixup", "tab:orange"),
    ("erm", "no mixup", "tab:gray"),
    ("manifold", "manifold mixup", "tab:green"),
    ("random_init", "random init", "tab:purple"),
)


def mixed_label_fit(
    records: Sequence[dict],
    dirs: Sequence[pathlib.Path],
    stem: pathlib.Path,
    params: dict[str, Any],
) -> Paths:
    """feature_mixup_kl (claim C6): how well each network predicts the mixed label of two images
    whose features are mixed at the manifold network's mixing layer, per architecture and kind
    of network: the mean over runs (bar) and each run's mean over its class triples (dot)."""
    from experiments.claims import run_role

    cells: dict[str, dict[str, list[float]]] = {}
    for r in records:
        triples = r["metrics"].get("triples") or [r["metrics"]]
        v = [t.get("feature_mixup_kl") for t in triples]
        v = [float(x) for x in v if x is not None and math.isfinite(float(x))]
        if v:
            key = f"{r['tags']['arch']}\n{r['tags']['dataset']}"
            cells.setdefault(key, {}).setdefault(run_role(r["tags"]), []).append(float(np.mean(v)))
    groups = MIXED_LABEL_ROLES
    ylabel = "KL(mixed label || prediction), nats\nfeatures mixed at the manifold layer"
    return _grouped_bars(cells, groups, ylabel, stem, 2.2)


BUILDERS = {
    "mixed_label_fit": mixed_label_fit,
    "residual_study": residual_study,
    "projection_grid": projection_grid,
    "analysis_figure": analysis_figure,
    "metric_curves": metric_curves,
    "ece_bars": ece_bars,
}
