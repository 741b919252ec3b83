"""`nc-mixup reproduce` on two processes (jax.distributed on 127.0.0.1, one CPU device each):
both train, data parallel; only process 0 analyses and writes; the claims are those of one
process with the same two devices."""

import json
import sys

import pytest
from test_distributed import free_port, run_processes


def _argv(out, *extra):
    return [
        sys.executable,
        "-m",
        "nc_mixup",
        "reproduce",
        "--profile",
        "smoke",
        "--only",
        "geometry",
        "--out",
        str(out),
        *extra,
    ]


@pytest.mark.slow
def test_two_processes_write_the_claims_of_one(tmp_path, fashion_mnist_dir):
    one, two = tmp_path / "one", tmp_path / "two"
    coord = ["--coordinator", f"127.0.0.1:{free_port()}", "--num-processes", "2"]
    log0, log1 = run_processes(
        [_argv(two, *coord, "--process-id", str(i)) for i in (0, 1)], devices=1
    )
    run_processes([_argv(one)], devices=2)  # the reference: one process, the same 2 devices
    assert "analysing" in log0 and "report:" in log0
    # process 1 trained and took part in the analyses (collective restores), then only waited:
    # it wrote no analysis, figure, table, claim or report
    assert "training" in log1 and "waiting for process 0" in log1
    assert "analysing" not in log1 and "report:" not in log1
    a = json.loads((one / "claims.json").read_text())
    b = json.loads((two / "claims.json").read_text())
    assert set(a) == set(b)
    for key in a:
        assert a[key]["holds"] == b[key]["holds"] and a[key]["n"] == b[key]["n"], key
        if a[key]["value"] is None:
            assert b[key]["value"] is None
        else:
            assert b[key]["value"] == pytest.approx(a[key]["value"], rel=1e-3, abs=1e-5), key
