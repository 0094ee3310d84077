"""Magnitude masks against slow, obvious references."""

import numpy as np
import pytest

from deepzip.core.masks import global_sparsity_masks, quality_mask, sparsity_mask


def reference_sparsity_mask(w, sparsity, mask):
    """Sort all entries by (|effective w|, position) and drop the first round(s·n)."""
    eff = np.where(mask, w, 0).ravel()
    n = eff.size
    drop = round(sparsity * n)
    order = sorted(range(n), key=lambda i: (abs(float(eff[i])), -i))
    out = np.ones(n, dtype=bool)
    out[order[:drop]] = False
    return (out & mask.ravel()).reshape(w.shape)


@pytest.mark.parametrize("shape", [(1,), (7,), (5, 3), (4, 3, 2, 2)])
@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_sparsity_mask_matches_reference(shape, sparsity):
    rng = np.random.default_rng(hash((shape, sparsity)) % 2**32)
    w = rng.normal(size=shape).astype(np.float32)
    prior = rng.random(shape) < 0.8
    got = sparsity_mask(w, sparsity, prior)
    want = reference_sparsity_mask(w, sparsity, prior)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == bool


def test_sparsity_mask_exact_count_and_shrinks():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(300, 100))
    m1 = sparsity_mask(w, 0.5)
    assert m1.sum() == 15000
    m2 = sparsity_mask(w, 0.8, m1)
    assert m2.sum() == 6000
    assert not np.any(m2 & ~m1)
    # Asking for less sparsity than the mask already has never regrows connections.
    m3 = sparsity_mask(w, 0.1, m2)
    np.testing.assert_array_equal(m3, m2)


def test_quality_mask_threshold_is_quality_times_std():
    w = np.array([[-3.0, -1.0, 0.5], [0.1, 2.0, 4.0]])
    std = w.std()
    got = quality_mask(w, 0.5)
    np.testing.assert_array_equal(got, np.abs(w) > 0.5 * std)
    # With a prior mask the std is over the pruned (zeroed) weight.
    prior = np.array([[True, False, True], [True, True, True]])
    eff = np.where(prior, w, 0)
    np.testing.assert_array_equal(
        quality_mask(w, 0.5, prior), prior & (np.abs(eff) > 0.5 * eff.std())
    )


def test_global_sparsity_uses_one_threshold():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = np.array([[0.5, 10.0], [0.1, 3.5]])
    masks = global_sparsity_masks({"a": a, "b": b}, 0.5)
    # The 4 largest of {1,2,3,4,0.5,10,0.1,3.5} are 10, 4, 3.5, 3.
    np.testing.assert_array_equal(masks["a"], [False, False, True, True])
    np.testing.assert_array_equal(masks["b"], [[False, True], [False, True]])


def test_bad_arguments():
    w = np.ones((2, 2))
    with pytest.raises(ValueError, match="sparsity"):
        sparsity_mask(w, 1.5)
    with pytest.raises(ValueError, match="mask shape"):
        sparsity_mask(w, 0.5, np.ones((3, 2), dtype=bool))
    with pytest.raises(ValueError, match="quality"):
        quality_mask(w, -1)
