"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST IDX files: $DEEPZIP_MNIST, else <repo root>/../shared/data/mnist."""
    configured = os.environ.get("DEEPZIP_MNIST")
    path = (
        Path(configured)
        if configured
        else Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
    )
    if not path.is_dir():
        pytest.skip(f"real MNIST not found at {path}; set DEEPZIP_MNIST")
    return path


def stripes(n_train: int, n_test: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """A learnable toy problem shaped like MNIST: uint8 28×28 images whose label (int64) is the
    brightest of 10 vertical stripes; ``((x_train, y_train), (x_test, y_test))``, always the same
    for the same sizes."""
    rng = np.random.default_rng(0)

    def make(n):
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        labels = rng.integers(0, 10, n).astype(np.int64)
        for i, label in enumerate(labels):
            images[i, :, 2 * label : 2 * label + 3] += 150
        return images, labels

    return make(n_train), make(n_test)


@pytest.fixture(name="stripes", scope="session")
def stripes_fixture():
    """``stripes(n_train, n_test)``, for tests (a conftest cannot be imported)."""
    return stripes
