"""Analysis of trained runs: the paper's projection, neural collapse, calibration, mixup geometry,
theory agreement, figures.

Pure metric functions live in `projection`, `neural_collapse`, `calibration`, `geometry` and
`theory_agreement`; `extract` runs the network on mixed-up training pairs; `plots` draws;
`runner.run_analysis` ties them together for `nc-mixup analyze`. Importing this package is cheap
(no JAX): `run_analysis` loads the machinery on first call.
"""

from __future__ import annotations

from typing import Any


def run_analysis(workdir, out, **kwargs: Any) -> dict[str, Any]:
    """Analyse a run and write out/metrics.json, out/activations.npz and the figures.

    run_analysis(workdir, out, *, step=None, classes=None, lambdas=None, pairs_per_class=None,
                 mode="train", layers=None, seed=0, progress=True) -> metrics dict.
    See nc_mixup.analysis.runner.run_analysis.
    """
    from nc_mixup.analysis.runner import run_analysis as _run

    return _run(workdir, out, **kwargs)


__all__ = ["run_analysis"]
