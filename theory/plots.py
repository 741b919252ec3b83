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
# (p, c, c2, lams (m,), features (m, d), same-class optimum of c (d,)) at penalty power p
PowerCurve = tuple[float, int, int, np.ndarray, np.ndarray, np.ndarray]


def theory_figure(
    W: np.ndarray,
    classes: Sequence[int],
    curves: Sequence[Curve],
    path: str | pathlib.Path,
    b: np.ndarray | None = None,
    title: str = "",
    power_family: Sequence[PowerCurve] | None = None,
) -> list[pathlib.Path]:
    """Plot pi(h*(c, c2, lam)) for each curve, pi the B.2 projection onto rows `classes` of W.

    Classifier rows of the three classes in black; the pairwise decision boundaries z_i = z_j
    (rays from the point where the three logits tie) dashed; each different-class curve in its
    own colour, shaded from light (lam = 0) to dark (lam = 1), lam = 1/2 ringed in black;
    same-class optima (lam-invariant) as stars. With power_family, a second panel shows one pair's
    curve for each penalty power p (SPEC section 8) in the plane span{w_c, w_c2}, each scaled by
    the norm of its same-class optimum, beside the unit ring (constant norm) and the chord.
    Writes `path` (PNG) and the PDF beside it; returns both paths.
    """
    W = np.asarray(W, dtype=np.float64)
    classes = [int(k) for k in classes]
    W3 = W[classes]
    b3 = None if b is None else np.asarray(b, dtype=np.float64)[classes]
    rows = project(W3, W3)
    if power_family:
        fig, (ax, ax_p) = plt.subplots(1, 2, figsize=(11.0, 5.5))
        _power_panel(ax_p, W, power_family)
    else:
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


def _power_panel(ax: plt.Axes, W: np.ndarray, family: Sequence[PowerCurve]) -> None:
    """One pair's optimum for each p in the plane span{w_c, w_c2}, h / ||h_same(p)||."""
    _, c, c2, _, _, _ = family[0]
    e1 = W[c] / np.linalg.norm(W[c])
    v = W[c2] - (W[c2] @ e1) * e1
    e2 = v / np.linalg.norm(v)
    theta = np.arctan2(W[c2] @ e2, W[c2] @ e1)
    arc = np.linspace(0.0, theta, 200)
    ax.plot(np.cos(arc), np.sin(arc), ls=":", color="0.4", lw=1.0, label="ring |h| = |h_same|")
    end = np.array([np.cos(theta), np.sin(theta)])
    ax.plot([1.0, end[0]], [0.0, end[1]], ls="--", color="0.6", lw=0.8, label="chord")
    cmap = plt.get_cmap("viridis")
    for k, (p, _, _, lams, H, h_same) in enumerate(family):
        scale = np.linalg.norm(h_same)
        if scale == 0:
            continue
        xy = np.stack([H @ e1, H @ e2], axis=1) / scale
        half = np.argmin(np.abs(np.asarray(lams) - 0.5))
        colour = cmap(k / max(1, len(family) - 1) * 0.85)
        label = f"p = {p:.3g}: |h(1/2)| / |h_same| = {np.hypot(*xy[half]):.2f}"
        ax.plot(xy[:, 0], xy[:, 1], color=colour, lw=1.8, label=label)
        ax.scatter(xy[half, 0], xy[half, 1], s=40, color=colour, edgecolors="black", zorder=4)
    ax.scatter([0.0], [0.0], marker="+", color="black", s=40)
    ax.annotate(f"w{c} direction", (1.0, 0.0), textcoords="offset points", xytext=(-70, 6))
    ax.annotate(f"w{c2} direction", tuple(end), textcoords="offset points", xytext=(4, 4))
    ax.set_aspect("equal")
    ax.set_title(
        f"pair {c}-{c2} for penalty (mu/p)||h||^p, scaled by |h_same(p)|\n"
        "(plane of w_c, w_c2; dot: lam = 1/2)",
        fontsize=9,
    )
    ax.legend(fontsize=7, loc="lower left", framealpha=0.85)


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
