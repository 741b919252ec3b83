"""Extraction: lambda specs, class and pair choice, and the mixed forward pass."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nc_mixup.analysis import extract
from nc_mixup.mixup import MixSpec
from nc_mixup.models import create_model


def test_parse_lambdas():
    assert extract.parse_lambdas("0:1:5").tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert extract.parse_lambdas("0.7, 0.2,0.2").tolist() == [0.2, 0.7]
    assert len(extract.parse_lambdas(None)) == 11
    for bad in ("0:1", "0:1:x", "0:2:3", "-0.1,0.5", "a", "", "0:1:0"):
        with pytest.raises(extract.AnalysisInputError):
            extract.parse_lambdas(bad)


def test_choose_classes():
    a = extract.choose_classes(10, None, seed=3)
    assert len(set(a.tolist())) == 3 and a.max() < 10
    assert np.array_equal(a, extract.choose_classes(10, None, seed=3))
    assert extract.choose_classes(10, "4,1,7").tolist() == [4, 1, 7]
    for bad in ("1,2", "1,1,2", "0,1,10", "x,y,z", "-1,2,3"):
        with pytest.raises(extract.AnalysisInputError):
            extract.choose_classes(10, bad)


def test_sample_pairs_covers_every_combination():
    labels = np.repeat(np.arange(4), 5)
    plan = extract.sample_pairs(labels, np.array([3, 0, 2]), n_per=7, seed=0)
    assert len(plan.i1) == 6 * 7
    combos = {(int(a), int(b)) for a, b in zip(plan.y1, plan.y2, strict=True)}
    assert combos == {(3, 3), (3, 0), (3, 2), (0, 0), (0, 2), (2, 2)}
    assert np.all(labels[plan.i1] == plan.y1) and np.all(labels[plan.i2] == plan.y2)
    same = plan.y1 == plan.y2
    assert np.all(plan.i1[same] != plan.i2[same])  # never an image mixed with itself


def test_mixed_forward_matches_the_training_mix():
    model = create_model({"name": "mlp", "width": 16, "depth": 2}, 5)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(30, 4, 4, 1)).astype(np.float32)
    labels = np.repeat(np.arange(5), 6)
    variables = model.init(jax.random.PRNGKey(0), jnp.asarray(images[:2]))
    fwd = extract.make_forward(model, variables, train=True, layers=("block1",))
    plan = extract.sample_pairs(labels, np.array([0, 2, 4]), n_per=3, seed=1)
    lams = np.array([0.0, 0.3, 1.0])
    out = extract.mixed_activations(fwd, images, plan, lams, batch_size=7, progress=False)
    n = 18 * 3
    assert out["penultimate"].shape == (n, 16) and out["block1"].shape == (n, 16)
    # the model's own mixing (MixSpec at the input), as in training, gives the same features
    for lam in lams:
        rows = np.flatnonzero(out["lam"] == lam)
        x = np.concatenate([images[out["i1"][rows]], images[out["i2"][rows]]])
        perm = jnp.concatenate([jnp.arange(len(rows)) + len(rows), jnp.arange(len(rows))])
        _, feats = model.apply(
            variables, jnp.asarray(x), mix=MixSpec(0, jnp.float32(lam), perm), capture=True
        )
        want = np.asarray(feats["penultimate"])[: len(rows)]
        np.testing.assert_allclose(out["penultimate"][rows], want, rtol=1e-5, atol=1e-5)
    clean = extract.clean_activations(fwd, images, batch_size=8, progress=False)
    direct = model.apply(variables, jnp.asarray(images))
    np.testing.assert_allclose(clean["logits"], np.asarray(direct), rtol=1e-5, atol=1e-5)


def test_class_triples_are_distinct_and_share_their_combinations():
    from nc_mixup.analysis import extract as ex

    triples = ex.choose_triples(10, [5, 6, 9], 5, seed=0)
    assert [t.tolist() for t in triples[:1]] == [[5, 6, 9]]
    assert len({tuple(sorted(t.tolist())) for t in triples}) == 5
    assert triples[1].tolist() == ex.choose_triples(10, [5, 6, 9], 2, seed=0)[1].tolist()
    combos = ex.combinations(triples)
    assert len(combos) == len(set(combos)) and all(c <= c2 for c, c2 in combos[6:])
    labels = np.repeat(np.arange(10), 20)
    plan = ex.sample_pairs(labels, triples, 4, seed=1)
    single = ex.sample_pairs(labels, np.array([5, 6, 9]), 4, seed=1)
    # the first triple's pairs are the single-triple plan (same draws), then the others'
    np.testing.assert_array_equal(plan.i1[: len(single.i1)], single.i1)
    for t in triples:
        rows = ex.triple_rows(plan.y1, plan.y2, t)
        assert rows.sum() == 6 * 4  # every combination of this triple, 4 pairs each
    with pytest.raises(ex.AnalysisInputError, match="triples"):
        ex.choose_triples(4, [0, 1, 2], 5)


def test_padding_keeps_the_analysed_rows_of_a_network_without_batch_statistics():
    """Padding a batch with random all-class pairs changes nothing for a network without batch
    statistics (only the batch composition differs), and the padded rows are dropped."""
    import jax.numpy as jnp

    from nc_mixup.analysis import extract as ex

    rng = np.random.default_rng(0)
    images = rng.random((40, 4, 4, 1)).astype(np.float32)
    labels = np.repeat(np.arange(4), 10)
    Wt = rng.normal(size=(16, 3)).astype(np.float32)

    def forward(x1, x2, lam, key):
        x = (lam * x1 + (1 - lam) * x2).reshape(len(x1), -1)
        h = jnp.maximum(x @ Wt, 0)
        return {"logits": h, "penultimate": h}

    plan = ex.sample_pairs(labels, np.array([0, 1, 2]), 3, seed=0)
    lams = np.array([0.0, 0.5, 1.0])
    plain = ex.mixed_activations(forward, images, plan, lams, batch_size=8, progress=False)
    padded = ex.mixed_activations(
        forward, images, plan, lams, batch_size=8, progress=False, pad_fraction=0.75
    )
    assert padded["penultimate"].shape == plain["penultimate"].shape
    np.testing.assert_allclose(padded["penultimate"], plain["penultimate"], rtol=1e-6)
    with pytest.raises(ex.AnalysisInputError, match="pad_fraction"):
        ex.mixed_activations(forward, images, plan, lams, pad_fraction=1.0, progress=False)
