"""Host-side input pipeline in numpy: normalise, pad/resize, augment, subset and batch.

Everything here is a deterministic function of its inputs and seeds. In particular the batches of
`EpochIterator.epoch(e, start_step=s)` depend only on (seed, e, s), never on what was iterated
before, so a run restarted from a checkpoint at (epoch, step) sees exactly the batches it would
have seen without the restart.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import numpy as np

from nc_mixup.data.augment import Augment, augment_batch, random_crop_flip  # noqa: F401
from nc_mixup.data.registry import DatasetError, get_info

# Tag of the shuffle's random stream drawn from one seed (augment.AUGMENT_STREAM is 1).
_SHUFFLE = 0

T = TypeVar("T")


# ----------------------------------------------------------------------------- preprocessing


def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) linear-interpolation weights (half-pixel centres, edges clamped)."""
    pos = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    pos = np.clip(pos, 0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = (pos - lo).astype(np.float32)
    m = np.zeros((n_out, n_in), np.float32)
    m[np.arange(n_out), lo] += 1 - frac
    m[np.arange(n_out), hi] += frac
    return m


def resize_bilinear(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of float NHWC `images` to `size` x `size` (numpy, separable)."""
    _, h, w, _ = images.shape
    rows, cols = _resize_matrix(h, size), _resize_matrix(w, size)
    return np.einsum("yh,nhwc,xw->nyxc", rows, images, cols, optimize=True).astype(np.float32)


def pad_to(images: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad NHWC `images` symmetrically to `size` x `size` (the odd pixel goes bottom/right)."""
    _, h, w, _ = images.shape
    top, left = (size - h) // 2, (size - w) // 2
    return np.pad(images, ((0, 0), (top, size - h - top), (left, size - w - left), (0, 0)))


def preprocess(images: np.ndarray, name: str, *, image_size: int = 0) -> np.ndarray:
    """uint8 NHWC images -> float32 NHWC, normalised with the dataset's per-channel mean/std.

    Args:
      images: uint8 (N, H, W, C), as returned by `load_dataset`.
      name: dataset name, selects the mean/std (see `DATASETS`).
      image_size: 0 keeps the native size. A larger size zero-pads the *uint8* image (black
        border, i.e. the FashionMNIST/MNIST background: 28 -> 32 adds 2 pixels on each side)
        before normalising; a smaller one resizes bilinearly.
    """
    info = get_info(name)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise DatasetError(
            f"preprocess expects uint8 NHWC images, got {images.dtype} {images.shape}"
        )
    h, w = images.shape[1:3]
    if image_size and image_size > max(h, w):
        images = pad_to(images, image_size)
    mean = np.asarray(info.mean, np.float32) * 255.0
    inv_std = 1.0 / (np.asarray(info.std, np.float32) * 255.0)
    out = (images.astype(np.float32) - mean) * inv_std
    if image_size and image_size < max(h, w):
        out = resize_bilinear(out, image_size)
    return out


# ----------------------------------------------------------------------------- augmentation
# (nc_mixup/data/augment.py; random_crop_flip re-exported for existing callers)

# ----------------------------------------------------------------------------- subsets


def class_balanced_subset(
    images: np.ndarray, labels: np.ndarray, n_per_class: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """`n_per_class` examples of every class, drawn without replacement from `seed`.

    The kept examples stay in their original order. `n_per_class == 0` returns the inputs.
    """
    if not n_per_class:
        return images, labels
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    if counts.min() < n_per_class:
        c = classes[np.argmin(counts)]
        raise DatasetError(
            f"n_per_class={n_per_class} but class {c} has only {counts.min()} examples"
        )
    keep = [rng.choice(np.flatnonzero(labels == c), n_per_class, replace=False) for c in classes]
    idx = np.sort(np.concatenate(keep))
    return images[idx], labels[idx]


# ----------------------------------------------------------------------------- batching


class EpochIterator:
    """Shuffled global batches of (images, labels), reproducible at any (epoch, step).

    Epoch `e` is the permutation drawn from (seed, e); the remainder that does not fill a batch
    is dropped. With `process_count > 1` each process gets only its slice
    `[process_index * B/P, (process_index + 1) * B/P)` of every global batch of size B. The
    augmentation (if any) of step s is drawn from (seed, e, s) for the whole global batch, so it
    does not depend on the number of processes either.

    Example:
      it = EpochIterator(x, y, batch_size=128, seed=0, augment=True)
      for epoch in range(start_epoch, num_epochs):
          for step, batch in enumerate(it.epoch(epoch, start_step), start_step): ...
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        batch_size: int,
        seed: int,
        *,
        augment: bool | Augment = False,
        process_index: int = 0,
        process_count: int = 1,
    ):
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if batch_size <= 0 or batch_size % process_count:
            raise ValueError(
                f"batch_size={batch_size} must be positive and divisible by "
                f"process_count={process_count}"
            )
        if not 0 <= process_index < process_count:
            raise ValueError(f"process_index={process_index} not in [0, {process_count})")
        if len(images) < batch_size:
            raise ValueError(f"batch_size={batch_size} is larger than the dataset ({len(images)})")
        self.images = images
        self.labels = np.asarray(labels, np.int32)
        self.batch_size = batch_size
        self.seed = int(seed)
        self.augment = augment
        self.process_index = process_index
        self.process_count = process_count
        self.local_batch_size = batch_size // process_count

    @property
    def steps_per_epoch(self) -> int:
        return len(self.images) // self.batch_size

    def permutation(self, epoch: int) -> np.ndarray:
        """The order of the examples in `epoch`."""
        rng = np.random.default_rng([self.seed, _SHUFFLE, epoch])
        return rng.permutation(len(self.images))

    def batch(self, epoch: int, step: int, perm: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """This process's part of global batch `step` of `epoch`."""
        if not 0 <= step < self.steps_per_epoch:
            raise IndexError(f"step {step} not in [0, {self.steps_per_epoch})")
        perm = self.permutation(epoch) if perm is None else perm
        lo = step * self.batch_size + self.process_index * self.local_batch_size
        idx = perm[lo : lo + self.local_batch_size]
        images = augment_batch(
            self.images[idx],
            self.augment,
            self.seed,
            epoch,
            step,
            self.batch_size,
            offset=lo - step * self.batch_size,
        )
        return {"image": images, "label": self.labels[idx]}

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[dict[str, np.ndarray]]:
        """Batches `start_step, ..., steps_per_epoch - 1` of `epoch`."""
        perm = self.permutation(epoch)
        for step in range(start_step, self.steps_per_epoch):
            yield self.batch(epoch, step, perm)

    def __len__(self) -> int:
        return self.steps_per_epoch


# ----------------------------------------------------------------------------- prefetching


class Prefetcher(Iterator[Any]):
    """`transform(item)` for each item of `items`, computed up to `size` items ahead on a
    background thread (flax/examples' `prefetch_to_device`, but off the training thread).

    The training loop uses it to gather, normalise and `device_put` the next batches while the
    current step runs, so the step never waits on the host. Items come out in order; an
    exception raised by `items` or `transform` is raised by `next()` at the item it replaced.
    `close()` (or leaving the `with` block) stops the thread without draining `items`; it is
    safe to stop iterating at any point.
    """

    _DONE = object()

    def __init__(
        self, items: Iterable[T], transform: Callable[[T], Any] = lambda x: x, size: int = 2
    ):
        if size < 1:
            raise ValueError(f"prefetch size must be >= 1, got {size}")
        self._queue: queue.Queue = queue.Queue(maxsize=size)
        self._closed = threading.Event()
        self._finished = False
        self._thread = threading.Thread(
            target=self._fill, args=(iter(items), transform), name="nc-mixup-prefetch", daemon=True
        )
        self._thread.start()

    def _put(self, entry: tuple[str, Any]) -> bool:
        """Puts `entry`, waiting for room unless closed; False once closed."""
        while not self._closed.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _fill(self, items: Iterator[T], transform: Callable[[T], Any]) -> None:
        try:
            for item in items:
                if not self._put(("item", transform(item))):
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which re-raises it
            self._put(("error", e))
            return
        self._put(("done", self._DONE))

    def __next__(self) -> Any:
        if self._finished:
            raise StopIteration
        kind, value = self._queue.get()
        if kind == "item":
            return value
        self._finished = True
        self._thread.join()
        if kind == "error":
            raise value
        raise StopIteration

    def close(self) -> None:
        """Stops the background thread (the items not yet consumed are dropped)."""
        self._closed.set()
        self._finished = True
        self._thread.join()

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
