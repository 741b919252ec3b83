"""Tests that kill the plausible bugs a mutation run found unguarded (issue 16), each by an
expected value derived independently of the code under test.

- the step's randomness must change from step to step (same lambda/partner at every step);
- ECE binning at its edges: confidence 1.0 in its own bin, right-closed bins [e_b, e_{b+1});
- boundary_gap takes the absolute margin;
- the theory's fast path for more than 4096 lambda values;
- the test loss of an MSE run is the MSE.
"""

import numpy as np
import pytest

from nc_mixup.analysis import calibration, geometry


def _tiny_state(schedule="constant", loss="ce"):
    import jax

    from nc_mixup import config as config_lib
    from nc_mixup import train
    from nc_mixup.models import create_model

    c = config_lib.default_config()
    c.model.name, c.model.width, c.model.depth = "mlp", 8, 1
    c.schedule.name = schedule
    c.loss = loss
    c.mixup.alpha = 1.0
    model = create_model(c.model, 4)
    state = train.create_train_state(c, model, jax.random.key(0), (2, 2, 1), 10)
    return train, state


def test_step_randomness_differs_between_steps_and_repeats_within_one():
    import jax
    import jax.numpy as jnp

    train, state = _tiny_state()
    key = jax.random.key(3)
    draws = [train.step_randomness(state.spec, key, jnp.int32(s), 16)[0] for s in range(12)]
    lams = [float(m.lam.ravel()[0]) for m in draws]
    perms = [tuple(np.asarray(m.perm).tolist()) for m in draws]
    assert len(set(lams)) == 12 and len(set(perms)) >= 11
    again = train.step_randomness(state.spec, key, jnp.int32(5), 16)[0]
    assert float(again.lam.ravel()[0]) == lams[5] and tuple(np.asarray(again.perm)) == perms[5]


def test_train_step_draws_its_mix_from_the_state_step():
    """With a constant learning rate, the same state and batch at another step number must give
    another update (another lambda and partner): only the step's randomness depends on it."""
    import jax
    import jax.numpy as jnp

    train, state = _tiny_state()
    rng = np.random.default_rng(0)
    batch = {
        "image": jnp.asarray(rng.random((16, 2, 2, 1), np.float32)),
        "label": jnp.asarray(rng.integers(0, 4, 16)),
    }
    key = jax.random.key(1)
    a, _ = train.train_step(state, batch, key)
    b, _ = train.train_step(state.replace(step=jnp.asarray(7, jnp.int32)), batch, key)
    c, _ = train.train_step(state.replace(step=jnp.asarray(7, jnp.int32)), batch, key)
    leaves = lambda s: np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(s.params)])
    assert not np.allclose(leaves(a), leaves(b))
    np.testing.assert_array_equal(leaves(b), leaves(c))


def test_eval_loss_of_an_mse_run_is_the_squared_error():
    import jax.numpy as jnp

    train, state = _tiny_state(loss="mse")
    rng = np.random.default_rng(2)
    images = rng.random((6, 2, 2, 1), np.float32)
    labels = rng.integers(0, 4, 6)
    batch = {
        "image": jnp.asarray(images),
        "label": jnp.asarray(labels),
        "mask": jnp.asarray([1, 1, 1, 1, 1, 0], jnp.float32),
    }
    out = train.eval_step(state, batch)
    z = np.asarray(
        state.apply_fn(
            {"params": state.params, "batch_stats": state.batch_stats},
            jnp.asarray(images),
            train=False,
        ),
        np.float64,
    )
    sq = np.sum((z - np.eye(4)[labels]) ** 2, axis=1)
    assert float(out["loss"]) == pytest.approx(sq[:5].sum(), rel=1e-5)
    # and not the cross-entropy
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    assert float(out["loss"]) != pytest.approx(-logp[np.arange(5), labels[:5]].sum(), rel=1e-3)


def test_ece_confidence_one_has_its_own_bin():
    """Gaps of opposite sign: a merged top bin would average them away. Confidence 1.0 (wrong:
    acc - conf = -1) and 0.95 (right: +0.05): separate bins give 0.5 * 1 + 0.5 * 0.05; one bin
    (mean confidence 0.975, accuracy 0.5) would give 0.475; MCE 1.0 vs 0.475."""
    probs = np.array([[1.0, 0.0], [0.95, 0.05]])
    labels = np.array([1, 0])
    assert calibration.ece(probs, labels) == pytest.approx(0.525)
    assert calibration.mce(probs, labels) == pytest.approx(1.0)


def test_ece_bins_are_right_closed_at_their_left_edge():
    """A confidence exactly on the edge e_8 = 8/15 belongs to bin 8 = [8/15, 9/15), not with
    0.5 in bin 7 = [7/15, 8/15): separately 0.5 * 8/15 + 0.5 * 0.5, merged |0.5 - 0.5167|."""
    edge = np.linspace(0.0, 1.0, 16)[8]
    probs = np.array([[edge, 1 - edge, 0.0], [0.5, 0.3, 0.2]])
    labels = np.array([1, 0])  # the edge one wrong, the 0.5 one right
    assert calibration.ece(probs, labels) == pytest.approx(0.5 * edge + 0.5 * 0.5)
    assert calibration.mce(probs, labels) == pytest.approx(edge)


def test_boundary_gap_takes_the_absolute_margin():
    """Margins +0.2 and -0.2 at lambda = 1/2: the gap is 0.2 (a signed mean would be 0)."""
    z = np.array([[1.2, 1.0, 0.0], [1.0, 1.2, 0.0]])
    norm = np.linalg.norm(z[0] - z[0].mean())
    y1, y2, lam = np.array([0, 0]), np.array([1, 1]), np.array([0.5, 0.5])
    assert geometry.boundary_gap(z, y1, y2, lam) == pytest.approx(0.2 / norm)


def test_theory_fast_path_for_many_lambdas_matches_the_direct_solve():
    """More than 4096 distinct lambda values take another path (a grid start for the root
    solve): it must give the same optimum as solving small chunks directly."""
    from theory.etf import etf_optimum

    lam = np.linspace(0.0, 1.0, 5001)
    c, c2 = np.zeros_like(lam, dtype=int), np.ones_like(lam, dtype=int)
    fast = etf_optimum(10, 0.05, c, c2, lam, norm=1.0)
    direct = np.concatenate(
        [
            etf_optimum(10, 0.05, c[i : i + 1000], c2[i : i + 1000], lam[i : i + 1000], norm=1.0)
            for i in range(0, len(lam), 1000)
        ]
    )
    np.testing.assert_allclose(fast, direct, rtol=1e-10, atol=1e-13)
