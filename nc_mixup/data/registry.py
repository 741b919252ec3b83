"""What we know about each dataset: classes, image shape, normalisation, raw files, TFDS name.

Normalisation constants are the per-channel mean and standard deviation of the *training* split,
in [0, 1] pixel units (the FashionMNIST values are checked against the real data in the tests).
"""

from __future__ import annotations

import dataclasses

SPLITS = ("train", "test")


class DatasetError(ValueError):
    """A dataset cannot be provided: unknown name/split, files missing, truncated or corrupt.

    The message is one self-contained line meant for the user (the CLI prints it and exits 2).
    """


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static facts about one dataset.

    Attributes:
      name: the name used everywhere in nc-mixup (and by TFDS).
      num_classes: number of labels K.
      image_shape: native (H, W, C) of the uint8 images.
      mean, std: per-channel statistics of the train split in [0, 1] units.
      num_examples: expected number of examples per split.
      raw_files: split -> the original file names (for the readers in `nc_mixup.data.raw`).
      tfds_version: the TFDS version `data prepare` writes (the one registered in tfds 4.9.x).
      raw_hint: how to get the raw files, for "not found" messages.
      sha256: split -> `content_hash` of the real arrays, where we have verified them; used by
        `data prepare` to check that raw files decode to the original data.
    """

    name: str
    num_classes: int
    image_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_examples: dict[str, int]
    raw_files: dict[str, tuple[str, ...]]
    tfds_version: str
    raw_hint: str
    sha256: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def tfds_name(self) -> str:
        return self.name


_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

DATASETS: dict[str, DatasetInfo] = {
    "fashion_mnist": DatasetInfo(
        name="fashion_mnist",
        num_classes=10,
        image_shape=(28, 28, 1),
        mean=(0.2860,),
        std=(0.3530,),
        num_examples={"train": 60000, "test": 10000},
        raw_files=_IDX_FILES,
        tfds_version="3.0.1",
        raw_hint=(
            "`apt-get install dataset-fashion-mnist` (Debian: /usr/share/datasets/fashion-mnist), "
            "or the four IDX .gz files from https://github.com/zalandoresearch/fashion-mnist"
        ),
        # The real arrays (decoded from the Debian dataset-fashion-mnist files, identical to the
        # originals: 60000/10000 examples, 6000/1000 per class, labels start 9, 0, 0, 3, 0, 2).
        sha256={
            "train": "c7d8cfe8172756709eda8bbe8b201cb44f70785b4cd9974a82408b36cc1f72e4",
            "test": "2589de149ea70a51076dfb7116c581fbd9b4c7b39b8e9c9f19ec089d65d659b8",
        },
    ),
    "mnist": DatasetInfo(
        name="mnist",
        num_classes=10,
        image_shape=(28, 28, 1),
        mean=(0.1307,),
        std=(0.3081,),
        num_examples={"train": 60000, "test": 10000},
        raw_files=_IDX_FILES,
        tfds_version="3.0.1",
        raw_hint="the four IDX .gz files from https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "cifar10": DatasetInfo(
        name="cifar10",
        num_classes=10,
        image_shape=(32, 32, 3),
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
        num_examples={"train": 50000, "test": 10000},
        raw_files={
            "train": ("cifar-10-python.tar.gz", "cifar-10-batches-py"),
            "test": ("cifar-10-python.tar.gz", "cifar-10-batches-py"),
        },
        tfds_version="3.0.2",
        raw_hint="cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html",
    ),
    "cifar100": DatasetInfo(
        name="cifar100",
        num_classes=100,
        image_shape=(32, 32, 3),
        mean=(0.5071, 0.4865, 0.4409),
        std=(0.2673, 0.2564, 0.2762),
        num_examples={"train": 50000, "test": 10000},
        raw_files={
            "train": ("cifar-100-python.tar.gz", "cifar-100-python"),
            "test": ("cifar-100-python.tar.gz", "cifar-100-python"),
        },
        tfds_version="3.0.2",
        raw_hint="cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html",
    ),
    "svhn_cropped": DatasetInfo(
        name="svhn_cropped",
        num_classes=10,
        image_shape=(32, 32, 3),
        mean=(0.4377, 0.4438, 0.4728),
        std=(0.1980, 0.2010, 0.1970),
        num_examples={"train": 73257, "test": 26032},
        raw_files={"train": ("train_32x32.mat",), "test": ("test_32x32.mat",)},
        tfds_version="3.1.0",
        raw_hint="train_32x32.mat and test_32x32.mat from http://ufldl.stanford.edu/housenumbers/",
    ),
}


def get_info(name: str) -> DatasetInfo:
    """The `DatasetInfo` for `name`; a `DatasetError` listing the known names otherwise."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(DATASETS))
        raise DatasetError(f"unknown dataset {name!r}; known datasets: {known}") from None


def check_split(split: str) -> str:
    """`split` itself if it is one of `SPLITS`; a `DatasetError` otherwise."""
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; known splits: {', '.join(SPLITS)}")
    return split
