"""`python -m theory solve|ufm`: the JSON contract, the figure, and one-line usage errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO_ROOT

from theory.cli import main
from theory.etf import etf_optimum, simplex_etf
from theory.projection import boundary_lines, project


def run(argv, capsys):
    """main(argv) -> (status, stdout, stderr), argparse's SystemExit included."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_solve_json_contract(tmp_path, capsys):
    path = tmp_path / "out.json"
    code, _, _ = run(f"solve --classes 4 --weight-decay 0.05 --json {path}".split(), capsys)
    assert code == 0
    data = json.loads(path.read_text())
    keys = ["classes", "weight_decay", "norm", "loss", "penalty_power", "W", "lambdas", "solutions"]
    assert list(data) == keys and data["penalty_power"] == 2.0
    assert data["classes"] == 4 and data["weight_decay"] == 0.05
    assert data["norm"] == 1.0 and data["loss"] == "ce"
    assert np.allclose(data["W"], simplex_etf(4))
    assert np.allclose(data["lambdas"], np.linspace(0, 1, 21))
    sols = data["solutions"]
    assert len(sols) == 2 * 21  # default pairs 0-1,0-0
    assert all(list(s) == ["c", "c2", "lam", "h", "logits", "kkt_residual"] for s in sols)
    assert [(s["c"], s["c2"]) for s in sols[::21]] == [(0, 1), (0, 0)]
    for s in sols[::5]:
        h = etf_optimum(4, 0.05, s["c"], s["c2"], s["lam"])
        assert np.allclose(s["h"], h, atol=1e-15)
        assert np.allclose(s["logits"], simplex_etf(4) @ h, atol=1e-15)
        assert 0 <= s["kkt_residual"] <= 1e-9


def test_solve_specs(tmp_path, capsys):
    path = tmp_path / "out.json"
    argv = "solve --classes 4 --weight-decay 1 --norm 2 --loss mse --lambdas 0.25,1 --pairs all"
    argv = argv.split() + ["--json", str(path)]
    assert run(argv, capsys)[0] == 0
    data = json.loads(path.read_text())
    assert data["lambdas"] == [0.25, 1.0] and data["loss"] == "mse" and data["norm"] == 2.0
    pairs = sorted({(s["c"], s["c2"]) for s in data["solutions"]})
    assert pairs == [(i, j) for i in range(4) for j in range(i, 4)]
    argv = f"solve --classes 3 --weight-decay 1 --lambdas 0.2:0.6:3 --pairs 2-1 --json {path}"
    argv = argv.split()
    assert run(argv, capsys)[0] == 0
    assert np.allclose(json.loads(path.read_text())["lambdas"], [0.2, 0.4, 0.6])


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        ("solve --classes 1 --weight-decay 0.1", "--classes"),
        ("solve --classes three --weight-decay 0.1", "--classes"),
        ("solve --classes 3 --weight-decay 0", "--weight-decay"),
        ("solve --classes 3 --weight-decay -2", "--weight-decay"),
        ("solve --classes 3 --weight-decay 0.1 --lambdas 0:1.5:3", "--lambdas"),
        ("solve --classes 3 --weight-decay 0.1 --lambdas -0.1,0.5", "--lambdas"),
        ("solve --classes 3 --weight-decay 0.1 --lambdas 0:1", "--lambdas"),
        ("solve --classes 3 --weight-decay 0.1 --lambdas a,b", "--lambdas"),
        ("solve --classes 3 --weight-decay 0.1 --pairs 0-3", "--pairs"),
        ("solve --classes 3 --weight-decay 0.1 --pairs 0-1,2", "--pairs"),
        ("solve --classes 3 --weight-decay 0.1 --pairs 0_1", "--pairs"),
        ("solve --classes 3 --weight-decay 0.1 --norm 0", "--norm"),
        ("solve --classes 2 --weight-decay 0.1 --plot x.png", "--plot"),
        ("ufm --classes 3 --weight-decay-h 0", "--weight-decay-h"),
        ("ufm --classes 3 --weight-decay-h 0.1 --weight-decay-w 0", "--weight-decay-w"),
        ("ufm --classes 3 --weight-decay-h 0.1 --alpha 0", "--alpha"),
        ("ufm --classes 3 --weight-decay-h 0.1 --pairs 1-5", "--pairs"),
        ("solve --classes 3 --weight-decay 0.1 --penalty-power 0", "--penalty-power"),
        ("solve --classes 3 --weight-decay 0.1 --penalty-power -0.5", "--penalty-power"),
        ("solve --classes 3 --weight-decay 0.1 --penalty-power 2.01", "--penalty-power"),
        ("solve --classes 3 --weight-decay 0.1 --penalty-power nan", "--penalty-power"),
        ("solve --classes 3 --weight-decay 0.1 --penalty-power two", "--penalty-power"),
        ("solve --classes 3 --weight-decay 0.1 --lambdas nan,0.5", "value nan"),
        ("solve --classes 3 --weight-decay 0.1 --lambdas 0.5,inf", "value inf"),
        ("solve --classes -1,2,3 --weight-decay 0.1", "--classes"),
        ("solve --classes=-1,2,3 --weight-decay 0.1", "'-1,2,3'"),
        ("solve --classes -4 --weight-decay 0.1", "--classes"),
        ("ufm --classes 3 --weight-decay-h -1", "--weight-decay-h"),
        ("solve --classes 3 --weight-decay 0.1 --max-memory-gb 0", "--max-memory-gb"),
    ],
)
def test_invalid_arguments_exit_2_with_one_line(argv, name, capsys):
    code, out, err = run(argv.split(), capsys)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and "error" in lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        "solve --classes 1000 --weight-decay 0.1 --pairs all",
        "solve --classes 1000 --weight-decay 0.1 --pairs all --json out.json",
        "ufm --classes 1000 --weight-decay 0.1",
        "solve --classes 100 --weight-decay 0.1 --pairs all --lambdas 0:1:101 --max-memory-gb 1",
    ],
)
def test_memory_estimate_refuses_with_estimate_and_limit(argv, tmp_path, capsys, monkeypatch):
    """Issue 15 item 8: no 78-119 GiB traceback; one line with the estimate and the limit."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run(argv.split(), capsys)
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1
    assert "estimated memory" in lines[0] and "GiB" in lines[0] and "--max-memory-gb" in lines[0]
    assert not (tmp_path / "out.json").exists()


def test_small_problems_pass_the_memory_check(tmp_path, capsys):
    argv = "solve --classes 100 --weight-decay 0.1 --pairs all --lambdas 0:1:3"
    assert run(argv.split() + ["--json", str(tmp_path / "a.json")], capsys)[0] == 0


@pytest.mark.parametrize("flag", ["--json", "--plot"])
def test_output_under_a_file_exits_2_and_keeps_the_file(flag, tmp_path, capsys):
    """Issue 15 item 10: `--json DIR_IS_A_FILE/x` is one line, exit 2, the file untouched."""
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    argv = ["solve", "--classes", "3", "--weight-decay", "0.1", flag, str(blocker / "x.png")]
    code, out, err = run(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and flag in lines[0] and "not a directory" in lines[0]
    assert blocker.read_text() == "keep me"
    code, _, err = run(argv[:-2] + [flag, str(tmp_path)], capsys)  # a directory itself
    assert code == 2 and "is a directory" in err


def test_version_and_helps(capsys):
    """Issue 15 item 13: --version; helps with a description and the defaults."""
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.startswith("python -m theory ") and len(out.split()) >= 4
    code, out, _ = run(["solve", "--help"], capsys)
    assert code == 0 and "simplex-ETF" in out and "(default: 0:1:21)" in out
    assert "(default: 2.0)" in out and "--penalty-power" in out and "(default: 0-1,0-0)" in out
    code, out, _ = run(["ufm", "--help"], capsys)
    assert code == 0 and "Beta(alpha, alpha)" in out and "(default: 16)" in out


def test_penalty_power_cli(tmp_path, capsys):
    """--penalty-power reaches the solver; p = 2 gives the same solutions as no flag."""
    a, b, c = (tmp_path / n for n in ("a.json", "b.json", "c.json"))
    base = "solve --classes 5 --weight-decay 0.02 --pairs 0-1,3-3 --lambdas 0:1:5 --json".split()
    assert run(base + [str(a)], capsys)[0] == 0
    assert run(base + [str(b), "--penalty-power", "2"], capsys)[0] == 0
    code, out, _ = run(base + [str(c), "--penalty-power", "0.6667"], capsys)
    assert code == 0 and "p=0.6667" in out
    da, db, dc = (json.loads(p.read_text()) for p in (a, b, c))
    assert da == db and dc["penalty_power"] == 0.6667
    h = np.array([s["h"] for s in dc["solutions"]])
    c_, c2_ = [s["c"] for s in dc["solutions"]], [s["c2"] for s in dc["solutions"]]
    lam = [s["lam"] for s in dc["solutions"]]
    assert np.allclose(h, etf_optimum(5, 0.02, c_, c2_, lam, penalty_power=0.6667), atol=1e-15)


def test_module_entry_point_errors_and_writes(tmp_path):
    cmd = [sys.executable, "-m", "theory", "solve", "--classes", "3", "--weight-decay", "0.1"]
    bad = subprocess.run(cmd + ["--pairs", "0-9"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "--pairs" in bad.stderr
    png = tmp_path / "fig" / "theory.png"
    ok = subprocess.run(
        cmd + ["--pairs", "0-1,1-2,0-0", "--json", "-", "--plot", str(png)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert ok.returncode == 0, ok.stderr
    assert len(json.loads(ok.stdout)["solutions"]) == 3 * 21
    assert png.stat().st_size > 10_000 and png.with_suffix(".pdf").stat().st_size > 1_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ufm_command(tmp_path, capsys):
    path = tmp_path / "ufm.json"
    argv = "ufm --classes 3 --dim 3 --weight-decay-h 0.02 --nodes 4 --lambdas 0:1:5 --pairs 0-1,2-2"
    argv = argv.split() + ["--json", str(path), "--plot", str(tmp_path / "ufm.png")]
    code, out, _ = run(argv, capsys)
    assert code == 0 and "etf_distance" in out
    data = json.loads(path.read_text())
    assert data["weight_decay_w"] == 0.02 and len(data["W"]) == 3 and len(data["b"]) == 3
    assert data["converged"] and data["diagnostics"]["etf_distance"] <= 1e-6
    assert len(data["solutions"]) == 2 * 5
    assert max(s["kkt_residual"] for s in data["solutions"]) <= 1e-9
    assert (tmp_path / "ufm.png").exists() and (tmp_path / "ufm.pdf").exists()


def test_projection_of_the_theory_figure():
    """B.2 projection: ETF rows at a triangle's vertices, the lam = 1/2 optimum on the boundary."""
    K, mu = 6, 0.01
    W = simplex_etf(K)
    W3 = W[[0, 1, 2]]
    rows = project(W3, W3)
    sides = [np.linalg.norm(rows[i] - rows[j]) for i, j in ((0, 1), (0, 2), (1, 2))]
    assert np.allclose(sides, sides[0]) and np.allclose(rows.mean(axis=0), 0, atol=1e-12)
    G, g = boundary_lines(W3)
    lams = np.linspace(0, 1, 11)
    pts = project(etf_optimum(K, mu, 0, 1, lams), W3)
    margin = pts @ (G[0] - G[1]) + g[0] - g[1]  # z_0 - z_1 read off the figure
    H = etf_optimum(K, mu, 0, 1, lams)
    assert np.allclose(margin, H @ (W[0] - W[1]), atol=1e-12)
    assert abs(margin[5]) <= 1e-12 and np.all(margin[6:] > 0) and np.all(margin[:5] < 0)
    # Same-class optima project onto the ray of their classifier row.
    p = project(etf_optimum(K, mu, 2, 2, 0.5), W3)
    assert abs(p[0] * rows[2, 1] - p[1] * rows[2, 0]) <= 1e-12 and p @ rows[2] > 0


def test_package_exports_the_public_api():
    """theory/__init__.py exports the API of issue 4 (executed from the file, so that a stale
    editable install that predates theory/__init__.py does not hide it)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_theory_api", REPO_ROOT / "theory/__init__.py")
    api = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(api)
    names = "simplex_etf etf_optimum etf_coefficients fixed_classifier_optimum kkt_residual"
    for name in (names + " full_ufm etf_diagnostics project").split():
        assert callable(getattr(api, name)), name
    assert set(api.__all__) <= set(dir(api))
    import re

    source = "\n".join(p.read_text() for p in (REPO_ROOT / "theory").glob("*.py"))
    assert not re.search(r"^\s*(import|from)\s+nc_mixup", source, flags=re.M)
    assert "jax_enable_x64" not in source
