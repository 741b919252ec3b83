"""Training augmentation (random crop after padding, horizontal flip) in numpy."""

from __future__ import annotations

import numpy as np
import pytest

from nc_mixup.config import apply_overrides, default_config
from nc_mixup.data import get_info, load_dataset
from nc_mixup.data.augment import (
    LEGACY_CROP_FLIP,
    Augment,
    apply,
    augment_batch,
    augment_images,
    draw,
    from_config,
)
from nc_mixup.data.pipeline import EpochIterator, class_balanced_subset, preprocess

FM = get_info("fashion_mnist")


@pytest.fixture(scope="module")
def small(fashion_mnist_dir):
    """100 real FashionMNIST images per class, zero-padded to 32x32 and normalised."""
    x, y = load_dataset("fashion_mnist", "train", raw_dir=fashion_mnist_dir, source="raw")
    x, y = class_balanced_subset(x, y, 100, seed=0)
    return preprocess(x, "fashion_mnist", image_size=32), y


def test_hand_case_crop_then_flip_with_fill():
    img = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)
    aug = Augment(crop_padding=1, flip=True, fill=(-1.0,))
    oy, ox = np.array([0]), np.array([2])
    crop = apply(img, oy, ox, np.array([False]), aug)[0, ..., 0]
    assert crop.tolist() == [[-1, -1, -1], [2, 3, -1], [5, 6, -1]]
    flipped = apply(img, oy, ox, np.array([True]), aug)[0, ..., 0]
    assert flipped.tolist() == [[-1, -1, -1], [-1, 3, 2], [-1, 6, 5]]
    centre = apply(img, np.array([1]), np.array([1]), np.array([False]), aug)
    assert np.array_equal(centre, img)


def test_fill_is_per_channel_and_dtype_kept():
    img = np.full((2, 4, 4, 3), 7, np.uint8)
    aug = Augment(crop_padding=2, flip=False, fill=(1.0, 2.0, 3.0))
    out = apply(img, np.array([0, 4]), np.array([0, 4]), np.zeros(2, bool), aug)
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert out[0, 0, 0].tolist() == [1, 2, 3] and out[0, 3, 3].tolist() == [7, 7, 7]
    assert out[1, 3, 3].tolist() == [1, 2, 3] and out[1, 0, 0].tolist() == [7, 7, 7]


@pytest.mark.parametrize("aug", [Augment(4, False), Augment(0, True), Augment(4, True)])
def test_shapes_and_determinism_from_the_seed(small, aug):
    x = small[0][:64]
    a = augment_images(x, np.random.default_rng(3), aug)
    b = augment_images(x, np.random.default_rng(3), aug)
    c = augment_images(x, np.random.default_rng(4), aug)
    assert a.shape == x.shape and a.dtype == x.dtype
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert not np.array_equal(a, x)


def test_draw_covers_offsets_and_flips_half():
    oy, ox, flip = draw(np.random.default_rng(0), 20000, Augment(4, True))
    assert set(oy.tolist()) == set(range(9)) == set(ox.tolist())
    assert abs(flip.mean() - 0.5) < 0.02
    oy, ox, flip = draw(np.random.default_rng(0), 10, Augment(0, True))
    assert not oy.any() and not ox.any()
    _, _, flip = draw(np.random.default_rng(0), 10, Augment(3, False))
    assert not flip.any()


def test_flip_only_mirrors_and_crop_only_shifts(small):
    x = small[0][:256]
    flipped = augment_images(x, np.random.default_rng(1), Augment(0, True))
    same = np.all(flipped == x, axis=(1, 2, 3))
    mirrored = np.all(flipped == x[:, :, ::-1], axis=(1, 2, 3))
    assert np.all(same | mirrored) and 0 < mirrored.sum() < 256
    shifted = augment_images(x, np.random.default_rng(1), Augment(4, False, (0.0,)))
    oy, ox, _ = draw(np.random.default_rng(1), 256, Augment(4, False))
    padded = np.pad(x, ((0, 0), (4, 4), (4, 4), (0, 0)))
    for i in (0, 1, 100):
        assert np.array_equal(shifted[i], padded[i, oy[i] : oy[i] + 32, ox[i] : ox[i] + 32])


def test_default_config_is_off_and_batches_are_the_same_as_without_augmentation(small):
    x, y = small
    aug = from_config(default_config(), FM.mean, FM.std)
    assert not aug
    plain = EpochIterator(x, y, 100, seed=5)
    configured = EpochIterator(x, y, 100, seed=5, augment=aug)
    for step in (0, 7):
        a, b = plain.batch(2, step), configured.batch(2, step)
        assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["label"], b["label"])
        perm = plain.permutation(2)[step * 100 : (step + 1) * 100]
        assert np.array_equal(a["image"], x[perm])


def test_config_keys_and_black_padding(small):
    x, y = small
    config = apply_overrides(default_config(), {"augment.crop_padding": 4, "augment.flip": True})
    aug = from_config(config, FM.mean, FM.std)
    assert aug.crop_padding == 4 and aug.flip
    black = preprocess(np.zeros((1, 1, 1, 1), np.uint8), "fashion_mnist").item()
    assert aug.fill == pytest.approx((black,))
    # A crop at the extreme offset shows 4 + 2 rows of black (4 padded, 2 from 28 -> 32).
    out = apply(x[:1], np.array([0]), np.array([4]), np.array([False]), aug)
    assert np.allclose(out[0, :6], black)
    legacy = from_config(
        apply_overrides(default_config(), {"dataset.augment": True}), FM.mean, FM.std
    )
    assert (legacy.crop_padding, legacy.flip) == (4, True)


def test_legacy_true_draws_the_batches_it_always_drew(small):
    """augment=True: the stream (seed, 1, epoch, step), oy then ox then flips, zero fill."""
    x, y = small
    it = EpochIterator(x, y, 100, seed=9, augment=True)
    rng = np.random.default_rng([9, 1, 3, 4])
    oy, ox, flip = rng.integers(0, 9, 100), rng.integers(0, 9, 100), rng.random(100) < 0.5
    padded = np.pad(x, ((0, 0), (4, 4), (4, 4), (0, 0)))
    idx = it.permutation(3)[400:500]
    expected = np.stack(
        [
            padded[i, a : a + 32, b : b + 32][:, :: -1 if f else 1]
            for i, a, b, f in zip(idx, oy, ox, flip, strict=True)
        ]
    )
    assert np.array_equal(it.batch(3, 4)["image"], expected)
    assert LEGACY_CROP_FLIP == Augment(4, True, (0.0,))


def test_process_slices_of_an_augmented_batch(small):
    x = small[0][:96]
    aug = Augment(4, True, (-1.0,))
    whole = augment_batch(x, aug, 2, 1, 5, 96)
    parts = [augment_batch(x[i : i + 24], aug, 2, 1, 5, 96, offset=i) for i in range(0, 96, 24)]
    assert np.array_equal(np.concatenate(parts), whole)
    assert augment_batch(x, None, 2, 1, 5, 96) is x
