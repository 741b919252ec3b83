"""The experiment registry: every SPEC section 4 experiment, in every profile, fully specified."""

import pytest

from experiments import registry
from experiments.configs import profiles

SPEC_EXPERIMENTS = {
    "geometry",
    "replication",
    "loss_comparison",
    "optimizers",
    "calibration",
    "fixed_etf",
    "dynamics",
    "earlier_layers",
    "density",
    "theory",
}


@pytest.fixture(scope="module", params=profiles.PROFILES)
def experiments(request):
    return request.param, registry.experiments(request.param)


def _tags(exp, key):
    return {a.tags[key] for a in exp.analyses}


def test_every_spec_experiment_is_registered(experiments):
    _, exps = experiments
    assert set(exps) == SPEC_EXPERIMENTS
    for name, exp in exps.items():
        assert exp.name == name and exp.title and exp.description
        assert exp.figures, name
        assert exp.tables or exp.theory, name
        assert exp.analyses, name
        for fig in exp.figures:
            assert fig.analyses or fig.theory, (name, fig.name)


def test_experiment_variants(experiments):
    profile, exps = experiments
    assert _tags(exps["loss_comparison"], "loss") == {"ce", "mse"}
    assert _tags(exps["optimizers"], "optimizer") == {"sgd", "adam", "adamw"}
    assert _tags(exps["calibration"], "mixup") == {True, False}
    assert _tags(exps["fixed_etf"], "classifier") == {"fixed_etf", "learned"}
    assert len(_tags(exps["dynamics"], "epoch")) >= 4
    assert all(a.layers for a in exps["earlier_layers"].analyses)
    assert {0, profiles.get_config(profile).manifold_layer} == _tags(
        exps["earlier_layers"], "mix_layer"
    )
    assert _tags(exps["earlier_layers"], "mixup") == {True, False}
    assert all("0.5" in a.lambdas or ":" in a.lambdas for a in exps["density"].analyses)
    for a in exps["geometry"].analyses:
        assert a.tags["mixup"] and a.tags["loss"] == "ce" and len(a.classes) == 3
    calls = exps["theory"].theory
    assert {c.args[0] for c in calls} == {"solve"}
    assert {c.args[c.args.index("--loss") + 1] for c in calls} == {"ce", "mse"}


def test_paper_profile_covers_the_papers_grid():
    exps = registry.experiments("paper")
    cells = {(a.tags["arch"], a.tags["dataset"]) for a in exps["geometry"].analyses}
    assert cells == {
        (arch, d)
        for arch in ("wide_resnet", "vit")
        for d in ("fashion_mnist", "cifar10", "cifar100")
    }
    for run in exps["geometry"].runs:
        c = run.config
        assert c["dataset"]["image_size"] == 32 and c["mixup"]["alpha"] == 1.0
        if c["model"]["name"] == "wide_resnet":
            assert (c["model"]["depth"], c["model"]["widen"]) == (40, 10)
        else:
            assert (c["model"]["width"], c["model"]["depth"], c["model"]["patch_size"]) == (
                768,
                12,
                4,
            )
    calib = {
        (a.tags["arch"], a.tags["dataset"], a.tags["mixup"]) for a in exps["calibration"].analyses
    }
    assert len(calib) == 12


def test_quick_profile_is_small_real_fashion_mnist():
    for exp in registry.experiments("quick").values():
        for run in exp.runs:
            c = run.config
            assert c["dataset"]["name"] == "fashion_mnist"
            assert c["model"]["name"] in ("mlp", "cnn") and c["num_epochs"] <= 200
            assert 0 < c["dataset"]["n_per_class"] <= 2000
            if c["model"]["name"] == "cnn":
                assert c["model"]["norm"] == "batch"  # the second architecture normalises


def test_claims_are_replicated_over_seeds_triples_and_two_architectures():
    p = profiles.get_config("quick")
    exps = registry.experiments("quick")
    assert len(p.seeds) >= 3 and p.analysis.num_triples >= 5
    for name in ("geometry", "loss_comparison", "calibration", "fixed_etf", "earlier_layers"):
        exp = exps[name]
        assert {a.tags["arch"] for a in exp.analyses} == {"mlp", "cnn"}, name
        assert {a.tags["seed"] for a in exp.analyses} == set(p.seeds), name
        assert all(a.num_triples >= 5 for a in exp.analyses), name
    # the random-initialisation control: the step-0 checkpoint of every input-mixup run
    inits = [a for a in exps["earlier_layers"].analyses if a.epoch == 0]
    assert len(inits) == 2 * len(p.seeds) and all(a.tags["mixup"] for a in inits)
    for run in exps["geometry"].runs:
        assert 0 in run.config["snapshot_epochs"]


def test_shared_runs_are_deduplicated():
    exps = registry.experiments("quick")
    base = exps["geometry"].runs[0]
    for name in (
        "loss_comparison",
        "optimizers",
        "calibration",
        "fixed_etf",
        "dynamics",
        "earlier_layers",
        "density",
    ):
        assert base in exps[name].runs, name
    unique = {r.config_hash for e in exps.values() for r in e.runs}
    # per architecture and seed: base, MSE, no mixup, fixed ETF, manifold mixup; + Adam, AdamW;
    # + base, no mixup and manifold mixup of the unseen seeds (replication)
    assert len(unique) == 2 * 3 * 5 + 2 + 2 * 3 * 3
    seeds = {r.tags["seed"] for r in exps["replication"].runs}
    assert seeds == {3, 4, 5} and not seeds & {r.tags["seed"] for r in exps["geometry"].runs}
    # The final snapshot of the dynamics experiment is the geometry analysis itself.
    assert exps["geometry"].analyses[0] in exps["dynamics"].analyses


def test_run_ids_follow_the_config():
    exps = registry.experiments("quick")
    run = exps["geometry"].runs[0]
    again = registry._Builder("quick").run("mlp/fashion_mnist")
    assert again.run_id == run.run_id and again.config_hash == run.config_hash
    other = registry._Builder("quick").run("mlp/fashion_mnist", loss="mse")
    assert other.run_id != run.run_id


def test_select_rejects_unknown_names():
    assert list(registry.select("smoke", ["density"])) == ["density"]
    with pytest.raises(KeyError, match="unknown experiment"):
        registry.select("smoke", ["nope"])


def test_paper_config_documents_its_sources():
    from experiments.configs import paper

    doc = paper.__doc__
    assert "ASSUMED" in doc and "2402.06171" in doc
    for word in ("Epochs", "batch", "weight decay", "learning rate", "Dropout"):
        assert word.lower() in doc.lower(), word


@pytest.mark.parametrize("profile", ["quick", "paper", "smoke"])
def test_profile_seeds_match_the_claim_versions(profile):
    """Version 1 of every claim is judged on the design seeds, a revised version on the unseen
    ones: every profile's seeds must fall in the right set, and the two never overlap."""
    from experiments import claims

    p = profiles.get_config(profile)
    assert set(p.seeds) <= set(claims.DESIGN_SEEDS)
    assert set(p.replication_seeds) <= set(claims.UNSEEN_SEEDS)
    assert len(p.replication_seeds) >= 2  # a control of two different seeds needs two
