"""Figures of an analysis, as functions of arrays and metrics (matplotlib Agg; PNG + PDF).

Conventions of the projection figures (paper Fig. 1): the B.2 plane of three anchors (classifier
rows for the last layer, class means for earlier layers); anchors as black arrows from the
origin, scaled to the extent of the data; same-class mixtures in blues and different-class
mixtures in oranges, both shaded by lambda; the decision boundaries among the three classes as
dashed grey lines where they are known.
"""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap, Normalize  # noqa: E402

SAME_CMAP = LinearSegmentedColormap.from_list(
    "same", plt.get_cmap("Blues")(np.linspace(0.35, 1.0, 256))
)
DIFF_CMAP = LinearSegmentedColormap.from_list(
    "diff", plt.get_cmap("YlOrRd")(np.linspace(0.3, 0.95, 256))
)
_NORM = Normalize(0.0, 1.0)


def save(fig, stem: str | pathlib.Path) -> list[str]:
    """Write fig to STEM.png and STEM.pdf, close it, return the two paths."""
    stem = pathlib.Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext, kw in (("png", {"dpi": 150}), ("pdf", {})):
        path = stem.with_suffix(f".{ext}")
        fig.savefig(path, bbox_inches="tight", **kw)
        paths.append(str(path))
    plt.close(fig)
    return paths


def _extent(*arrays: np.ndarray) -> float:
    pts = np.concatenate([np.asarray(a).reshape(-1, 2) for a in arrays if np.size(a)])
    return float(np.max(np.linalg.norm(pts, axis=1))) if len(pts) else 1.0


def draw_boundaries(ax, boundaries: tuple[np.ndarray, np.ndarray], lim: float) -> None:
    """The decision boundaries among three classes with logits G p + g0 (3 x 2, 3): for each
    pair (i, j) the zero line of z_i - z_j where both beat the third class (dashed grey)."""
    G, g0 = boundaries
    xs = np.linspace(-lim, lim, 300)
    X, Y = np.meshgrid(xs, xs)
    z = np.tensordot(np.stack([X, Y], -1), np.asarray(G).T, axes=1) + g0
    for i, j, k in ((0, 1, 2), (0, 2, 1), (1, 2, 0)):
        f = np.ma.masked_where(z[..., k] > np.maximum(z[..., i], z[..., j]), z[..., i] - z[..., j])
        if f.count() and f.min() < 0 < f.max():
            ax.contour(X, Y, f, levels=[0.0], colors="grey", linestyles="--", linewidths=0.8)


def draw_projection(
    ax,
    P2: np.ndarray,
    y1: np.ndarray,
    y2: np.ndarray,
    lam: np.ndarray,
    anchors: np.ndarray,
    labels: list[str],
    boundaries: tuple[np.ndarray, np.ndarray] | None = None,
    size: float = 6.0,
):
    """Scatter of projected mixtures P2 (n, 2) on ax, with the three anchors (3, 2) as arrows.

    boundaries: (G, g0) with the three logits = G p + g0 (projection.project_boundaries).
    Returns the two scatter artists (same-class, different-class) for colour bars.
    """
    same = np.asarray(y1) == np.asarray(y2)
    diff = ~same
    order = np.argsort(np.abs(np.asarray(lam) - 0.5))[::-1]  # lam = 1/2 drawn last (on top)
    arts = []
    for mask, cmap in ((same, SAME_CMAP), (diff, DIFF_CMAP)):
        idx = order[mask[order]]
        arts.append(
            ax.scatter(
                P2[idx, 0],
                P2[idx, 1],
                c=lam[idx],
                cmap=cmap,
                norm=_NORM,
                s=size,
                alpha=0.6,
                linewidths=0,
                rasterized=True,
            )
        )
    r = _extent(P2) * 1.08
    scale = r / max(_extent(anchors), 1e-300)
    for (x, y), name in zip(anchors * scale, labels, strict=True):
        ax.annotate(
            "",
            xy=(x, y),
            xytext=(0, 0),
            arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5},
        )
        ax.text(x * 1.07, y * 1.07, name, ha="center", va="center", fontsize=9, weight="bold")
    lim = r * 1.2
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    if boundaries is not None:
        draw_boundaries(ax, boundaries, lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    return arts


def _colorbars(fig, axes, arts):
    """Two side-by-side colour bars (same class, different classes) right of `axes`."""
    axes = np.atleast_1d(axes)
    fig.canvas.draw()  # settle the axes positions (equal aspect)
    right = max(ax.get_position().x1 for ax in axes)
    bottom = min(ax.get_position().y0 for ax in axes)
    top = max(ax.get_position().y1 for ax in axes)
    for i, (art, label) in enumerate(
        zip(arts, ("λ, same class", "λ, different classes"), strict=True)
    ):
        cax = fig.add_axes([right + 0.02 + i * 0.085, bottom, 0.018, top - bottom])
        cb = fig.colorbar(art, cax=cax)
        cb.set_label(label, fontsize=8)
        cb.solids.set_alpha(1.0)
        cb.ax.tick_params(labelsize=7)


def projection_figure(
    stem, P2, y1, y2, lam, anchors, labels, boundaries=None, title="", overlays=()
) -> list[str]:
    """The paper's activation figure; `overlays`: (curves, style, label) with curves a list of
    (m, 2) paths (drawn as lines) or (2,) points (drawn as stars) in the same coordinates."""
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    arts = draw_projection(ax, P2, y1, y2, lam, anchors, labels, boundaries)
    for curves, style, label in overlays:
        first = True
        for cur in curves:
            cur = np.asarray(cur)
            kw = {"label": label if first else None}
            if cur.ndim == 1:
                ax.plot(
                    *cur,
                    marker="*",
                    ms=13,
                    mec="black",
                    mfc=style.get("color", "k"),
                    ls="none",
                    **kw,
                )
            else:
                ax.plot(cur[:, 0], cur[:, 1], **style, **kw)
            first = False
    if overlays:
        ax.legend(loc="lower right", fontsize=8, framealpha=0.8)
    ax.set_title(title, fontsize=10)
    _colorbars(fig, ax, arts)
    return save(fig, stem)


def layers_figure(stem, panels: list[dict], y1, y2, lam) -> list[str]:
    """One projection panel per layer; each panel dict has 'name', 'P2', 'anchors', 'labels'
    and optionally 'boundaries' and 'note' (a line under the title)."""
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n + 1.0, 4.4), squeeze=False)
    arts = None
    for ax, p in zip(axes[0], panels, strict=True):
        arts = draw_projection(
            ax, p["P2"], y1, y2, lam, p["anchors"], p["labels"], p.get("boundaries"), size=4
        )
        ax.set_title(p["name"] + (f"\n{p['note']}" if p.get("note") else ""), fontsize=9)
    _colorbars(fig, list(axes[0]), arts)
    return save(fig, stem)


def reliability_figure(stem, bins: dict, ece: float, title: str = "") -> list[str]:
    """Reliability diagram: accuracy per confidence bin against the diagonal, gaps in red."""
    edges = bins["edges"]
    width = np.diff(edges)
    centres = edges[:-1] + width / 2
    full = bins["count"] > 0
    acc, conf = bins["accuracy"][full], bins["confidence"][full]
    fig, (ax, axc) = plt.subplots(
        2, 1, figsize=(4.8, 5.6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.bar(
        centres[full],
        acc,
        width=width[full],
        color="tab:blue",
        edgecolor="black",
        lw=0.5,
        label="accuracy",
    )
    ax.bar(
        centres[full],
        conf - acc,
        bottom=acc,
        width=width[full],
        color="none",
        edgecolor="tab:red",
        hatch="///",
        lw=0.8,
        label="gap to mean confidence",
    )
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"{title}  ECE = {ece:.4f}".strip(), fontsize=10)
    axc.bar(centres, bins["count"] / max(bins["count"].sum(), 1), width=width, color="grey")
    axc.set_xlabel("confidence (top label)")
    axc.set_ylabel("fraction")
    axc.set_xlim(0, 1)
    return save(fig, stem)


def confidence_figure(stem, curves: dict, title: str = "") -> list[str]:
    """Mean confidence and accuracy against lambda for different- and same-class mixtures, with
    the UFM optimum's predicted confidence and probability of the lambda-weighted class (curves
    'theory_confidence_different', 'theory_prob_y1_different', 'theory_confidence_same') when
    the curves have them."""
    lam = np.asarray(curves["lambdas"])
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    ax.plot(
        lam,
        curves["confidence_different"],
        "o-",
        color="tab:orange",
        label="confidence, different class",
    )
    ax.plot(
        lam,
        curves["accuracy_different"],
        "s--",
        color="tab:red",
        ms=4,
        label="accuracy vs the mixed label, different class",
    )
    ax.plot(
        lam,
        curves["prob_y1_different"],
        ":",
        color="tab:brown",
        label="p(class weighted by λ), different class",
    )
    ax.plot(
        lam, curves["confidence_same"], "o-", color="tab:blue", ms=4, label="confidence, same class"
    )
    ax.plot(lam, np.maximum(lam, 1 - lam), "k--", lw=0.8, label="max(λ, 1 − λ)")
    theory = (
        ("theory_confidence_different", "-", "tab:orange", "UFM optimum: confidence, different"),
        ("theory_prob_y1_different", "-.", "tab:brown", "UFM optimum: p(class weighted by λ)"),
        ("theory_confidence_same", "-", "tab:blue", "UFM optimum: confidence, same class"),
    )
    for key, ls, color, label in theory:  # the prediction at the fitted (gamma, p), if any
        if curves.get(key) is not None and len(curves[key]) == len(lam):
            ax.plot(lam, curves[key], ls, color=color, lw=2.2, alpha=0.45, label=label)
    ax.set_xlabel("λ")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, loc="lower center")
    ax.set_title(title, fontsize=10)
    return save(fig, stem)


def density_figure(
    stem, points, anchors, labels, hist_edges, hist_counts, boundaries=None, title=""
) -> list[str]:
    """Different-class activations at lambda = 1/2: 2-D density in the B.2 plane, and the
    histogram of the normalised margin (z_c - z_c')/||z - mean z|| (0 = on the boundary)."""
    fig, (ax, axh) = plt.subplots(1, 2, figsize=(10, 4.4))
    points = np.asarray(points).reshape(-1, 2)
    lim = _extent(points) * 1.3 if len(points) else 1.0
    if len(points):
        ax.hexbin(
            points[:, 0],
            points[:, 1],
            gridsize=40,
            cmap="magma_r",
            mincnt=1,
            extent=(-lim, lim, -lim, lim),
        )
    scale = lim / 1.2 / max(_extent(anchors), 1e-300)
    for (x, y), name in zip(np.asarray(anchors) * scale, labels, strict=True):
        ax.annotate(
            "",
            xy=(x, y),
            xytext=(0, 0),
            arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5},
        )
        ax.text(x * 1.08, y * 1.08, name, ha="center", va="center", fontsize=9, weight="bold")
    if boundaries is not None:
        draw_boundaries(ax, boundaries, lim)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("different-class mixtures at λ = 1/2", fontsize=10)
    centres = (hist_edges[:-1] + hist_edges[1:]) / 2
    axh.bar(
        centres,
        hist_counts,
        width=np.diff(hist_edges),
        color="tab:orange",
        edgecolor="black",
        lw=0.4,
    )
    axh.axvline(0, color="grey", ls="--", lw=0.8)
    axh.set_xlabel("(z_c − z_c′) / ‖z − mean z‖ at λ = 1/2")
    axh.set_ylabel("count")
    fig.suptitle(title, fontsize=10)
    return save(fig, stem)
