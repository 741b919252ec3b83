"""Shared test set-up: CPU only, persistent compilation cache, the real FashionMNIST."""

import os
import pathlib

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Two pytest workers share two cores: one BLAS thread each (many threads thrash here).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
_REPO = pathlib.Path(__file__).resolve().parents[1]
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(_REPO / ".jax_cache"))

import pytest  # noqa: E402

FASHION_MNIST_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")
REPO_ROOT = _REPO


@pytest.fixture(scope="session")
def fashion_mnist_dir() -> pathlib.Path:
    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.fail(
            f"real FashionMNIST not found in {FASHION_MNIST_DIR}: run `make setup` "
            "(apt-get install dataset-fashion-mnist)"
        )
    return FASHION_MNIST_DIR
