"""The numpy input pipeline, on the real FashionMNIST."""

import ml_collections
import numpy as np
import pytest

from nc_mixup.data import DatasetError, get_datasets, load_dataset
from nc_mixup.data.pipeline import (
    EpochIterator,
    class_balanced_subset,
    preprocess,
    random_crop_flip,
    resize_bilinear,
)


@pytest.fixture(scope="module")
def raw_train(fashion_mnist_dir):
    return load_dataset("fashion_mnist", "train", raw_dir=fashion_mnist_dir, source="raw")


@pytest.fixture(scope="module")
def small(raw_train):
    """200 real images per class, preprocessed."""
    x, y = class_balanced_subset(*raw_train, 200, seed=0)
    return preprocess(x, "fashion_mnist"), y


# ----------------------------------------------------------------------------- preprocess


def test_preprocess_normalises(raw_train):
    x = preprocess(raw_train[0], "fashion_mnist")
    assert x.dtype == np.float32 and x.shape == (60000, 28, 28, 1)
    assert abs(float(x.mean())) < 2e-3 and float(x.std()) == pytest.approx(1.0, abs=2e-3)


def test_preprocess_pads_28_to_32_with_background(raw_train):
    images = raw_train[0][:50]
    x = preprocess(images, "fashion_mnist", image_size=32)
    assert x.shape == (50, 32, 32, 1)
    assert np.array_equal(x[:, 2:30, 2:30], preprocess(images, "fashion_mnist"))
    background = preprocess(np.zeros((1, 1, 1, 1), np.uint8), "fashion_mnist")[0, 0, 0, 0]
    border = np.concatenate([x[:, :2].ravel(), x[:, 30:].ravel(), x[:, :, :2].ravel()])
    assert np.all(border == background)


def test_preprocess_resizes_down(raw_train):
    x = preprocess(raw_train[0][:10], "fashion_mnist", image_size=14)
    assert x.shape == (10, 14, 14, 1)
    # Halving with half-pixel centres averages 2x2 blocks.
    full = preprocess(raw_train[0][:10], "fashion_mnist")
    blocks = full.reshape(10, 14, 2, 14, 2, 1).mean(axis=(2, 4))
    np.testing.assert_allclose(x, blocks, atol=1e-5)
    const = np.full((1, 5, 7, 3), 0.5, np.float32)
    np.testing.assert_allclose(resize_bilinear(const, 3), 0.5, atol=1e-6)


def test_preprocess_rejects_floats():
    with pytest.raises(DatasetError, match="uint8 NHWC"):
        preprocess(np.zeros((1, 28, 28, 1), np.float32), "fashion_mnist")


# ----------------------------------------------------------------------------- augmentation


def test_random_crop_flip_is_a_shifted_window(small):
    x = small[0][:64]
    rng = np.random.default_rng(0)
    out = random_crop_flip(x, rng, pad=4)
    assert out.shape == x.shape and out.dtype == x.dtype
    padded = np.pad(x, ((0, 0), (4, 4), (4, 4), (0, 0)))
    rng = np.random.default_rng(0)
    oy, ox = rng.integers(0, 9, 64), rng.integers(0, 9, 64)
    flip = rng.random(64) < 0.5
    assert 0 < flip.sum() < 64
    for i in range(64):
        window = padded[i, oy[i] : oy[i] + 28, ox[i] : ox[i] + 28]
        assert np.array_equal(out[i], window[:, ::-1] if flip[i] else window)


def test_random_crop_flip_deterministic_given_generator(small):
    a = random_crop_flip(small[0][:8], np.random.default_rng(5))
    b = random_crop_flip(small[0][:8], np.random.default_rng(5))
    assert np.array_equal(a, b)


# ----------------------------------------------------------------------------- subsets


def test_subset_is_class_balanced_and_reproducible(raw_train):
    x, y = class_balanced_subset(*raw_train, 37, seed=3)
    assert x.shape == (370, 28, 28, 1) and np.bincount(y).tolist() == [37] * 10
    x2, y2 = class_balanced_subset(*raw_train, 37, seed=3)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    x3, _ = class_balanced_subset(*raw_train, 37, seed=4)
    assert not np.array_equal(x, x3)
    # The subset is made of real examples with their own labels, in their original order.
    where = {img.tobytes(): i for i, img in enumerate(raw_train[0])}
    idx = np.array([where[img.tobytes()] for img in x])
    assert np.array_equal(raw_train[1][idx], y) and np.all(np.diff(idx) > 0)


def test_subset_zero_is_everything_and_too_many_fails(raw_train):
    x, y = class_balanced_subset(*raw_train, 0, seed=0)
    assert x is raw_train[0] and y is raw_train[1]
    with pytest.raises(DatasetError, match="has only 6000"):
        class_balanced_subset(*raw_train, 6001, seed=0)


# ----------------------------------------------------------------------------- EpochIterator


def _all(it, epoch, start=0):
    return [(b["image"], b["label"]) for b in it.epoch(epoch, start)]


def test_epoch_covers_a_permutation_and_drops_remainder(small):
    x, y = small
    it = EpochIterator(x, y, batch_size=128, seed=0)
    assert it.steps_per_epoch == len(it) == 2000 // 128 == 15
    batches = _all(it, 0)
    assert len(batches) == 15
    assert all(b[0].shape == (128, 28, 28, 1) and b[1].dtype == np.int32 for b in batches)
    # Every yielded example is distinct and the labels match their images.
    flat = np.concatenate([b[0] for b in batches]).reshape(15 * 128, -1)
    assert len(np.unique(flat, axis=0)) == 15 * 128
    perm = it.permutation(0)[: 15 * 128]
    assert np.array_equal(np.concatenate([b[1] for b in batches]), y[perm])
    assert not np.array_equal(it.permutation(0), it.permutation(1))


@pytest.mark.parametrize("augment", [False, True])
def test_restart_at_epoch_and_step_reproduces(small, augment):
    x, y = small
    first = EpochIterator(x, y, batch_size=100, seed=7, augment=augment)
    run = {e: _all(first, e) for e in range(2)}
    fresh = EpochIterator(x, y, batch_size=100, seed=7, augment=augment)  # a "restarted" process
    resumed = _all(fresh, 1, start=13)
    assert len(resumed) == 20 - 13
    for (xa, ya), (xb, yb) in zip(run[1][13:], resumed, strict=True):
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
    other = _all(EpochIterator(x, y, batch_size=100, seed=8, augment=augment), 1)
    assert not np.array_equal(other[0][1], run[1][0][1])


def test_augmentation_changes_images_not_labels(small):
    x, y = small
    plain = EpochIterator(x, y, 64, seed=1).batch(0, 3)
    aug = EpochIterator(x, y, 64, seed=1, augment=True).batch(0, 3)
    assert np.array_equal(plain["label"], aug["label"])
    assert not np.array_equal(plain["image"], aug["image"])
    again = EpochIterator(x, y, 64, seed=1, augment=True).batch(0, 3)
    assert np.array_equal(aug["image"], again["image"])


@pytest.mark.parametrize("augment", [False, True])
def test_process_slices_make_up_the_global_batch(small, augment):
    x, y = small
    whole = EpochIterator(x, y, 96, seed=2, augment=augment)
    parts = [
        EpochIterator(x, y, 96, seed=2, augment=augment, process_index=p, process_count=4)
        for p in range(4)
    ]
    assert all(
        p.local_batch_size == 24 and p.steps_per_epoch == whole.steps_per_epoch for p in parts
    )
    for step in (0, 5):
        g = whole.batch(1, step)
        local = [p.batch(1, step) for p in parts]
        assert np.array_equal(np.concatenate([b["image"] for b in local]), g["image"])
        assert np.array_equal(np.concatenate([b["label"] for b in local]), g["label"])


def test_iterator_argument_checks(small):
    x, y = small
    with pytest.raises(ValueError, match="divisible"):
        EpochIterator(x, y, 100, seed=0, process_count=3)
    with pytest.raises(ValueError, match="larger than the dataset"):
        EpochIterator(x[:10], y[:10], 32, seed=0)
    with pytest.raises(IndexError):
        EpochIterator(x, y, 100, seed=0).batch(0, 20)


# ----------------------------------------------------------------------------- get_datasets


def test_get_datasets_from_config(fashion_mnist_dir):
    cfg = ml_collections.ConfigDict(
        dict(
            name="fashion_mnist",
            n_per_class=50,
            test_n_per_class=20,
            data_dir="",
            raw_dir=str(fashion_mnist_dir),
            source="auto",
            image_size=32,
            augment=False,
        )
    )
    x, y, xt, yt, info = get_datasets(cfg)
    assert x.shape == (500, 32, 32, 1) and x.dtype == np.float32 and y.dtype == np.int32
    assert xt.shape == (200, 32, 32, 1) and np.bincount(yt).tolist() == [20] * 10
    assert np.bincount(y).tolist() == [50] * 10
    assert info.image_shape == (32, 32, 1) and info.num_classes == 10
    x2, y2, *_ = get_datasets(cfg)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    cfg.n_per_class = 0
    cfg.image_size = 0
    x, y, *_ = get_datasets(cfg)
    assert x.shape == (60000, 28, 28, 1) and y[:6].tolist() == [9, 0, 0, 3, 0, 2]


# -- Prefetcher: the next batches prepared on a background thread


def test_prefetcher_yields_every_item_in_order_transformed():
    from nc_mixup.data.pipeline import Prefetcher

    with Prefetcher(range(50), lambda i: i * i, size=3) as p:
        assert list(p) == [i * i for i in range(50)]


def test_prefetcher_runs_ahead_of_the_consumer():
    import threading

    from nc_mixup.data.pipeline import Prefetcher

    produced = []
    ready = threading.Event()

    def items():
        for i in range(10):
            produced.append(i)
            if len(produced) == 3:
                ready.set()
            yield i

    p = Prefetcher(items(), size=2)
    assert ready.wait(5)  # 2 queued + 1 waiting to be queued, before anything was consumed
    assert next(p) == 0
    p.close()
    assert len(produced) < 10  # closing does not drain the source


def test_prefetcher_raises_the_producers_error_at_its_place():
    from nc_mixup.data.pipeline import Prefetcher

    def items():
        yield 1
        yield 2
        raise ValueError("bad batch 3")

    p = Prefetcher(items())
    assert next(p) == 1 and next(p) == 2
    with pytest.raises(ValueError, match="bad batch 3"):
        next(p)
    with pytest.raises(StopIteration):
        next(p)


def test_prefetcher_close_mid_way_stops_the_thread():
    from nc_mixup.data.pipeline import Prefetcher

    p = Prefetcher(iter(range(10**9)), size=2)
    assert next(p) == 0
    p.close()
    assert not p._thread.is_alive()
    with pytest.raises(StopIteration):
        next(p)
