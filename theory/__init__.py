"""Exact optimal features of the unconstrained-features model (UFM) under the mixup loss.

A small numpy/scipy library in float64 (SPEC section 2); it never imports nc_mixup.

- simplex_etf, etf_optimum, etf_coefficients: closed form for a simplex-ETF classifier
  (CE via the Wright omega function, MSE affine in the soft target; theory.ce_gaps keeps CE exact
  for any gamma = a/mu); penalty_power=p: the penalty mu/p ||h||^p, p in (0, 2]
  (theory.etf_power, the global optimum also for p < 1); etf_logits, etf_kkt_residual;
- fixed_classifier_optimum, kkt_residual: any fixed classifier (W, b), vectorised Newton;
- full_ufm: W, b and the features jointly, lam ~ Beta(alpha, alpha) by Gauss-Jacobi quadrature,
  with etf_diagnostics saying how far the optimal W is from a simplex ETF;
- project: the paper's B.2 projection; theory.plots draws the theory figure;
  `python -m theory solve|ufm` is the command line (theory.cli).
"""

from theory.etf import etf_coefficients, etf_optimum, etf_scale, simplex_etf
from theory.etf_power import etf_kkt_residual, etf_logits
from theory.fixed_classifier import fixed_classifier_optimum, kkt_residual, point_loss
from theory.full_ufm import UFMResult, beta_quadrature, etf_diagnostics, full_ufm
from theory.projection import project, projection_map

__all__ = [
    "UFMResult",
    "beta_quadrature",
    "etf_coefficients",
    "etf_diagnostics",
    "etf_kkt_residual",
    "etf_logits",
    "etf_optimum",
    "etf_scale",
    "fixed_classifier_optimum",
    "full_ufm",
    "kkt_residual",
    "point_loss",
    "project",
    "projection_map",
    "simplex_etf",
]
