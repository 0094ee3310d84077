"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

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
