"""Theory beside the trained networks, over seeds: the table the report shows after the claims.

For the CE-mixup networks (learned classifier, and fixed simplex ETF) of every architecture: the
held-out margin of the fitted UFM optimum over straight chords with the penalty power p fitted
and with p = 2, the fitted p, and the RMSE of the theory-predicted confidence along lambda
(different-class and same-class pairs); each the mean over seeds with its 95% bootstrap interval
(nc_mixup.analysis.runner documents the keys). Descriptive, not a claim: no rule judges it.
"""

from __future__ import annotations

import math
from typing import Any

from experiments.claims import Index, bootstrap_ci, run_role

KEYS = (
    "theory_delta_straight",
    "theory_delta_straight_p2",
    "theory_fit_power",
    "theory_confidence_rmse",
    "theory_confidence_rmse_same",
)
CAPTION = (
    "Theory beside the networks (mean over seeds, 95% bootstrap interval): held-out "
    "margin of the fitted UFM optimum over straight chords (p fitted; p = 2), the fitted "
    "penalty power p, and the RMSE of the theory-predicted confidence along lambda."
)
ROLES = {"mixup": "CE mixup, learned classifier", "fixed_etf": "CE mixup, fixed simplex ETF"}


def summarise(records: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """(header, rows): one row per (network kind, architecture), per key 'mean [low, high]'."""
    header = ["network", "arch", "seeds", *KEYS]
    groups: dict[tuple[str, str], dict[int, dict]] = {}
    for r in Index(records).records:
        role = run_role(r["tags"])
        if role in ROLES:
            groups.setdefault((role, r["tags"]["arch"]), {})[int(r["tags"].get("seed", 0))] = r[
                "metrics"
            ]
    rows = []
    for (role, arch), by_seed in sorted(groups.items()):
        row: list[Any] = [ROLES[role], arch, len(by_seed)]
        for key in KEYS:
            values = [
                float(m[key])
                for m in by_seed.values()
                if m.get(key) is not None and math.isfinite(float(m[key]))
            ]
            if not values:
                row.append("")
                continue
            lo, hi = bootstrap_ci(values)
            row.append(f"{sum(values) / len(values):.4g} [{lo:.4g}, {hi:.4g}]")
        rows.append(row)
    return header, rows
