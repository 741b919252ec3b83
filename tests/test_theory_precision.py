"""Issue 15: `python -m theory solve` (CE) against an 80-digit mpmath reference over the whole
documented range (weight decay 1e-12..1e6, norm 1e-6..1e6, K = 2, 3, 10, 100), a relative KKT
residual that exposes a wrong answer, and exit 2 outside the range."""

from __future__ import annotations

import json

import numpy as np
import pytest
from theory_mp_reference import reference_coefficients

from theory.ce_gaps import relative_kkt
from theory.cli import main
from theory.etf import _ce_logit_gaps, etf_coefficients, etf_scale, simplex_etf

# (weight decay, norm): the corners and the middle of the documented range.
GRID = [(1e-12, 1e6), (1e-12, 1.0), (5e-9, 30.0), (1e-4, 1e3), (1.0, 1.0), (1e3, 1e-3), (1e6, 1e-6)]


@pytest.mark.parametrize("K", [2, 3, 10, 100])
def test_cli_solve_matches_mpmath_over_the_documented_range(K, tmp_path, capsys):
    path = tmp_path / "out.json"
    for mu, norm in GRID:
        argv = ["solve", "--classes", str(K), "--weight-decay", repr(mu), "--norm", repr(norm)]
        argv += ["--lambdas", "0.3,1", "--pairs", "0-1,1-1", "--json", str(path)]
        assert main(argv) == 0, (mu, norm)
        capsys.readouterr()
        data = json.loads(path.read_text())
        W = simplex_etf(K, norm)
        for s in data["solutions"]:
            A, B = reference_coefficients(K, mu, norm, s["c"], s["c2"], s["lam"])
            ref = A * W[s["c"]] + B * W[s["c2"]]
            err = np.linalg.norm(np.array(s["h"]) - ref) / np.linalg.norm(ref)
            assert err <= 1e-8, (K, mu, norm, s["c"], s["c2"], s["lam"], err)
            assert 0 <= s["kkt_residual"] <= 1e-8, (K, mu, norm, s["kkt_residual"])


@pytest.mark.parametrize(("K", "mu"), [(3, 5e-18), (10, 1e-16), (2, 1e-20), (100, 1e-22)])
def test_library_large_gamma_matches_mpmath(K, mu):
    """The cases of issue 15 (42% off at weight decay 5e-18) through the library, which accepts
    gamma up to 1e26."""
    lam = np.array([0.0, 0.25, 0.5, 0.9])
    A, B = etf_coefficients(K, mu, 0, 1, lam)
    for i, x in enumerate(lam):
        rA, rB = reference_coefficients(K, mu, 1.0, 0, 1, float(x))
        assert np.hypot(A[i] - rA, B[i] - rB) <= 1e-10 * np.hypot(rA, rB), (K, mu, x)
    A, _ = etf_coefficients(K, mu, 1, 1, 0.5)
    assert abs(A - reference_coefficients(K, mu, 1.0, 1, 1, 1.0)[0]) <= 1e-10 * abs(A)


def test_relative_residual_exposes_the_old_wrong_answer():
    """The former solver's gaps at gamma = 2e17 (the beta form, still used below 1e6) are far
    off; the relative residual says so, where the absolute gradient norm looked clean."""
    K, mu = 3, 5e-18
    gamma = etf_scale(K) / mu
    lam = np.array([0.3])
    d1, d2 = _ce_logit_gaps(K, gamma, lam)
    rA, rB = reference_coefficients(K, mu, 1.0, 0, 1, 0.3)
    a = etf_scale(K)
    assert np.hypot(d1[0] / a - rA, d2[0] / a - rB) > 1e-3 * np.hypot(rA, rB)  # really wrong
    assert relative_kkt(K, gamma, lam, False, d1, d2)[0] > 1e-3
    A, B = etf_coefficients(K, mu, 0, 1, lam)  # the new solver
    assert relative_kkt(K, gamma, lam, False, A * a, B * a)[0] <= 1e-10


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--norm", "1e-300"),
        ("--norm", "1e300"),
        ("--weight-decay", "1e-18"),
        ("--weight-decay", "1e7"),
        ("--norm", "1e8"),
        ("--weight-decay", "nan"),
        ("--norm", "inf"),
    ],
)
def test_outside_the_documented_range_exits_2(flag, value, tmp_path, capsys):
    path = tmp_path / "out.json"
    argv = ["solve", "--classes", "3", "--weight-decay", "0.1", "--json", str(path)]
    argv += [flag, value]
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert flag in err[0] and value in err[0]
    if value not in ("nan", "inf"):
        assert "range" in err[0] and ("1e-12" in err[0] or "1e-06" in err[0])
    assert not path.exists()  # nothing written, no NaN/null solution


def test_library_refuses_outside_its_range():
    with pytest.raises(ValueError, match="gamma"):
        etf_coefficients(3, 1e-40, 0, 1, 0.5)
    with pytest.raises(ValueError, match="gamma"):
        etf_coefficients(3, 0.1, 0, 1, 0.5, norm=1e300)
    with pytest.raises(ValueError, match="gamma"):
        etf_coefficients(3, 1e6, 0, 1, 0.5, norm=1e-300)
