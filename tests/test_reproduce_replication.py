"""`nc-mixup reproduce --profile smoke --only replication`: the unseen seeds of the revised claims.

Trains the smoke MLP on real FashionMNIST for seeds 3 and 4 (input mixup, no mixup, manifold
mixup), analyses them with the pairs also mixed at the manifold layer, and judges version 2 of
C4 and C6 on them, with version 1 reported (not computed: its seeds were not run here).
"""

import json
import math

from nc_mixup import cli


def test_replication_judges_the_revised_claims_on_unseen_seeds(tmp_path, fashion_mnist_dir):
    out = tmp_path / "rep"
    argv = ["reproduce", "--profile", "smoke", "--out", str(out), "--only", "replication"]
    assert cli.main(argv) == 0
    claims = json.loads((out / "claims.json").read_text())
    for key in ("C4_mixup_lowers_ece", "C6_earlier_layers_manifold_mixup"):
        c = claims[key]
        assert c["version"] == 2 and c["seeds"] == [3, 4, 5], key
        assert c["n"] > 0 and len(c["ci"]) == 2, key
        assert all(ctl["n"] > 0 and ctl["holds"] is not None for ctl in c["controls"]), key
        assert {p["seed"] for p in c["points"]} <= {3, 4}, key
        (old,) = c["superseded"]
        assert old["version"] == 1 and old["n"] == 0 and not old["holds"] and old["why"]
    # C6: 2 seeds x 2 class triples of the one smoke cell, both controls evaluated
    c6 = claims["C6_earlier_layers_manifold_mixup"]
    assert c6["n"] == 4 and [ctl["n"] for ctl in c6["controls"]] == [4, 4]
    # the statistic is measured on every analysed network, finite and >= 0 (a KL)
    metrics = [json.loads(p.read_text()) for p in (out / "metrics").glob("*.json")]
    kls = [
        t["feature_mixup_kl"]
        for m in metrics
        if m.get("feature_mix_layer") == "block1"
        for t in m["triples"]
    ]
    assert len(kls) == 8 * 2 and all(math.isfinite(v) and v >= 0 for v in kls)
    assert (out / "figures" / "replication-mixed_label_fit.png").exists()
    report = (out / "report.html").read_text()
    assert "Revised claims" in report and "version 1" in report
