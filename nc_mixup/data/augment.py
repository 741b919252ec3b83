"""Training-time augmentation in numpy: random crop after padding, random horizontal flip.

The CIFAR recipe of torchvision's `RandomCrop(32, padding=4)` + `RandomHorizontalFlip()` (the
evidence for the paper's training, see experiments/configs/paper.py): pad every side by
`crop_padding` pixels of value `fill`, cut a window of the original size at a uniformly random
offset, then mirror it left-right with probability 1/2. torchvision pads the uint8 image before
`Normalize`, i.e. with black; on normalised images black is `-mean / std` per channel, which is
what `from_config` puts in `fill`.

Every random draw comes from an explicit `np.random.Generator`, so a run is reproducible from its
seed; `augment_batch` draws the parameters of a whole *global* batch from
(seed, AUGMENT_STREAM, epoch, step) and hands each process its slice, so the images do not depend
on where a run was restarted or on the number of processes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

# Tag of the augmentation's random stream among the streams drawn from one seed (the shuffle is
# 0, in nc_mixup/data/pipeline.py). Changing it changes every augmented batch.
AUGMENT_STREAM = 1


@dataclasses.dataclass(frozen=True)
class Augment:
    """What to do to a training batch: pad by `crop_padding` (0 = no crop), `flip` or not.

    `fill` is the value of the padded pixels, one per channel (or one for all channels).
    """

    crop_padding: int = 0
    flip: bool = False
    fill: tuple[float, ...] = (0.0,)

    def __post_init__(self):
        if self.crop_padding < 0:
            raise ValueError(f"crop_padding={self.crop_padding} must be >= 0")

    def __bool__(self) -> bool:
        return self.crop_padding > 0 or self.flip


# What `augment=True` meant before the keys existed: pad 4 with 0 (on normalised images, the
# dataset's mean colour), flip. Kept so such iterators draw the batches they always drew.
LEGACY_CROP_FLIP = Augment(crop_padding=4, flip=True, fill=(0.0,))


def as_augment(spec: bool | Augment | None) -> Augment:
    """`spec` as an Augment: None/False = nothing, True = LEGACY_CROP_FLIP."""
    if isinstance(spec, Augment):
        return spec
    return LEGACY_CROP_FLIP if spec else Augment()


def from_config(config: Any, mean: Sequence[float], std: Sequence[float]) -> Augment:
    """The Augment of a run config (`augment.*`; `dataset.augment` = crop pad 4 + flip).

    `mean`, `std`: the dataset's per-channel normalisation in [0, 1] units (DatasetInfo), so that
    the padding is black, as torchvision's padding of the uint8 image before Normalize.
    """
    legacy = bool(config.dataset.get("augment", False))
    pad = int(config.augment.crop_padding) or (LEGACY_CROP_FLIP.crop_padding if legacy else 0)
    flip = bool(config.augment.flip) or legacy
    fill = tuple(-float(m) / float(s) for m, s in zip(mean, std, strict=True))
    return Augment(crop_padding=pad, flip=flip, fill=fill)


def draw(rng: np.random.Generator, n: int, aug: Augment) -> tuple[np.ndarray, ...]:
    """Crop offsets (oy, ox in [0, 2 * crop_padding]) and flip flags of `n` images.

    Draws oy, then ox (only when cropping), then the flips (only when flipping), in that order.
    """
    width = 2 * aug.crop_padding + 1
    oy = rng.integers(0, width, size=n) if aug.crop_padding else np.zeros(n, np.int64)
    ox = rng.integers(0, width, size=n) if aug.crop_padding else np.zeros(n, np.int64)
    flip = rng.random(n) < 0.5 if aug.flip else np.zeros(n, bool)
    return oy, ox, flip


def apply(
    images: np.ndarray, oy: np.ndarray, ox: np.ndarray, flip: np.ndarray, aug: Augment
) -> np.ndarray:
    """NHWC `images` padded by `aug.crop_padding` (value `aug.fill`), the H x W window at
    (oy[i], ox[i]) of image i cut out, then mirrored left-right where `flip[i]`. Same dtype."""
    n, h, w, c = images.shape
    p = aug.crop_padding
    padded = np.empty((n, h + 2 * p, w + 2 * p, c), images.dtype)
    padded[...] = np.asarray(aug.fill, np.float64).astype(images.dtype)
    padded[:, p : p + h, p : p + w] = images
    rows = oy[:, None] + np.arange(h)[None, :]
    cols = ox[:, None] + np.where(flip[:, None], np.arange(w)[::-1], np.arange(w))
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def augment_images(images: np.ndarray, rng: np.random.Generator, aug: Augment) -> np.ndarray:
    """`images` augmented as `aug` says, with parameters drawn from `rng` (a copy if inactive)."""
    if not aug:
        return images.copy()
    return apply(images, *draw(rng, len(images), aug), aug)


def random_crop_flip(images: np.ndarray, rng: np.random.Generator, pad: int = 4) -> np.ndarray:
    """CIFAR augmentation with zero padding: pad by `pad`, random crop, random horizontal flip."""
    return augment_images(images, rng, Augment(crop_padding=pad, flip=True))


def augment_batch(
    images: np.ndarray,
    spec: bool | Augment | None,
    seed: int,
    epoch: int,
    step: int,
    batch_size: int,
    offset: int = 0,
) -> np.ndarray:
    """The part [offset, offset + len(images)) of augmented global batch `step` of `epoch`.

    The parameters of the whole global batch (`batch_size` images) are drawn from
    (seed, AUGMENT_STREAM, epoch, step); `images` is this process's slice of it. Returns `images`
    itself when `spec` does nothing.
    """
    aug = as_augment(spec)
    if not aug:
        return images
    rng = np.random.default_rng([int(seed), AUGMENT_STREAM, int(epoch), int(step)])
    oy, ox, flip = draw(rng, batch_size, aug)
    part = slice(offset, offset + len(images))
    return apply(images, oy[part], ox[part], flip[part], aug)
