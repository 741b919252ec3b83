"""The theory figure: optimal features in the paper's B.2 projection (PNG and PDF)."""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402

from theory.projection import boundary_lines, project  # noqa: E402

Curve = tuple[int, int, np.ndarray, np.ndarray]  # (c, c2, lams (m,), features (m, d))


def theory_figure(
    W: np.ndarray,
    classes: Sequence[int],
    curves: Sequence[Curve],
    path: str | pathlib.Path,
    b: np.ndarray | None = None,
    title: str = "",
) -> list[pathlib.Path]:
    """Plot pi(h*(c, c2, lam)) for each curve, pi the B.2 projection onto rows `classes` of W.

    Classifier rows of the three classes in black; the pairwise decision boundaries z_i = z_j
    (rays from the point where the three logits tie) dashed; each different-class curve in its
    own colour, shaded from light (lam = 0) to dark (lam = 1), lam = 1/2 ringed in black;
    same-class optima (lam-invariant) as stars. Writes `path` (PNG) and
    the PDF beside it; returns both paths.
    """
    W = np.asarray(W, dtype=np.float64)
    classes = [int(k) for k in classes]
    W3 = W[classes]
    b3 = None if b is None else np.asarray(b, dtype=np.float64)[classes]
    rows = project(W3, W3)
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    colours = plt.get_cmap("tab10").colors
    all_points = [rows]
    for i, (c, c2, lams, H) in enumerate(curves):
        pts = project(np.asarray(H), W3)
        all_points.append(pts)
        base = np.array(to_rgb(colours[i % len(colours)]))
        shade = 0.2 + 0.8 * np.asarray(lams, dtype=float)[:, None]
        rgb = (1.0 - shade) * np.ones(3) + shade * base
        label = f"{c}-{c2}" + (" (same class)" if c == c2 else f" (lam on {c})")
        if c == c2:  # lam-invariant: one point, drawn on top of the curves ending there
            ax.scatter(
                pts[:, 0],
                pts[:, 1],
                c=[base],
                s=150,
                marker="*",
                zorder=6,
                label=label,
                edgecolors="black",
                linewidths=0.6,
            )
            continue
        ax.plot(pts[:, 0], pts[:, 1], color=base, lw=1.0, alpha=0.6, zorder=2)
        ax.scatter(
            pts[:, 0],
            pts[:, 1],
            c=rgb,
            s=22,
            zorder=3,
            label=label,
            edgecolors=[base],
            linewidths=0.4,
        )
        half = np.isclose(lams, 0.5)
        if c != c2 and half.any():
            ax.scatter(
                pts[half, 0],
                pts[half, 1],
                s=60,
                facecolors="none",
                edgecolors="black",
                linewidths=1.0,
                zorder=4,
            )
    pts = np.concatenate(all_points)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = 0.12 * max(hi - lo) + 1e-12
    _draw_boundaries(ax, W3, b3, length=10 * (max(hi - lo) + 1.0))
    ax.scatter(
        rows[:, 0], rows[:, 1], c="black", s=50, marker="o", zorder=5, label="classifier rows"
    )
    for k, (x, y) in zip(classes, rows, strict=True):
        ax.annotate(f"w{k}", (x, y), textcoords="offset points", xytext=(6, 6), fontsize=10)
    ax.set_xlim(lo[0] - pad, hi[0] + pad)
    ax.set_ylim(lo[1] - pad, hi[1] + pad)
    ax.set_aspect("equal")
    ax.set_title(title or "UFM optimal features (B.2 projection)", fontsize=10)
    ax.text(
        0.01,
        0.01,
        "shade: lam from light (0) to dark (1); ring: lam = 1/2",
        transform=ax.transAxes,
        fontsize=7,
        color="0.3",
    )
    ax.legend(fontsize=7, loc="upper right", framealpha=0.85)
    fig.tight_layout()
    png = pathlib.Path(path)
    png.parent.mkdir(parents=True, exist_ok=True)
    pdf = png.with_suffix(".pdf")
    fig.savefig(png, dpi=150)
    fig.savefig(pdf)
    plt.close(fig)
    return [png, pdf]


def _draw_boundaries(ax: plt.Axes, W3: np.ndarray, b3: np.ndarray | None, length: float) -> None:
    """Rays of the three pairwise boundaries z_i = z_j where both beat the third class."""
    G, g = boundary_lines(W3, b3)
    A = np.array([G[0] - G[1], G[0] - G[2]])
    rhs = -np.array([g[0] - g[1], g[0] - g[2]])
    try:
        tie = np.linalg.solve(A, rhs)
    except np.linalg.LinAlgError:
        return
    for i, j, k in ((0, 1, 2), (0, 2, 1), (1, 2, 0)):
        n = G[i] - G[j]
        direction = np.array([-n[1], n[0]]) / (np.linalg.norm(n) + 1e-300)
        if (G[i] - G[k]) @ direction < 0:
            direction = -direction
        end = tie + length * direction
        ax.plot([tie[0], end[0]], [tie[1], end[1]], ls="--", lw=0.8, color="0.55", zorder=1)
