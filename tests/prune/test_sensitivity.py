"""Sensitivity analysis: one layer pruned at a time, the model left unchanged, budget choice."""

import numpy as np
import pytest
import torch

from deepzip.models import lenet_300_100
from deepzip.prune import SensitivityResult, choose_sparsities, sensitivity_analysis
from deepzip.prune.sensitivity import DEFAULT_RATIOS


def test_each_layer_pruned_alone_and_model_restored():
    torch.manual_seed(0)
    model = lenet_300_100()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    calls = []

    def score(m):
        # A stand-in "accuracy": fraction of non-zero weights in each layer, recorded per call.
        zeros = {
            n: float((getattr(m, n).weight == 0).float().mean()) for n in ("fc1", "fc2", "fc3")
        }
        calls.append(zeros)
        return 1.0 - sum(zeros.values())

    result = sensitivity_analysis(model, score, ratios=(0.0, 0.5, 0.9))
    assert result.baseline == pytest.approx(1.0)
    # Exactly one layer pruned per measurement, to the requested ratio.
    for call, (layer, ratio) in zip(
        calls[1:], [(n, r) for n in ("fc1", "fc2", "fc3") for r in (0.0, 0.5, 0.9)]
    ):
        assert call[layer] == pytest.approx(ratio, abs=1e-3)
        assert all(v == 0 for n, v in call.items() if n != layer)
    assert result.accuracy["fc2"] == pytest.approx((1.0, 0.5, 0.1), abs=1e-3)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_choose_sparsities_largest_ratio_within_budget():
    result = SensitivityResult(
        baseline=0.98,
        ratios=(0.0, 0.5, 0.8, 0.9, 0.95),
        accuracy={
            "robust": (0.98, 0.98, 0.978, 0.976, 0.90),
            "fragile": (0.98, 0.97, 0.90, 0.80, 0.70),
            # Non-monotone: a lucky point after a bad one must not be chosen.
            "noisy": (0.98, 0.90, 0.979, 0.979, 0.979),
        },
    )
    assert choose_sparsities(result, 0.005) == {"robust": 0.9, "fragile": 0.0, "noisy": 0.0}
    assert choose_sparsities(result, 0.02) == {"robust": 0.9, "fragile": 0.5, "noisy": 0.0}
    with pytest.raises(ValueError):
        choose_sparsities(result, -1)


def test_result_round_trips_to_dict():
    r = SensitivityResult(0.9, DEFAULT_RATIOS[:3], {"a": (0.9, 0.8, 0.7)})
    assert SensitivityResult.from_dict(r.to_dict()) == r
    np.testing.assert_equal(r.to_dict()["ratios"], list(DEFAULT_RATIOS[:3]))
