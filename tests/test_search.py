"""The budget search: the smallest file within a validation loss (or the most accurate one at a
ratio), deterministic for a seed, resumed after an interruption, on a toy problem in seconds."""

import dataclasses

import numpy as np
import pytest

from deepzip.pipeline import CompressConfig, Reporter, write_result
from deepzip.prune import PruneConfig, SensitivityResult, interpolate_sparsities
from deepzip.search import SearchConfig, SearchError, search
from deepzip.training import TensorData, TrainConfig


@pytest.fixture(scope="module")
def toy(stripes):
    """The label is the brightest of 10 stripes (tests/test_pipeline.py's toy problem)."""
    (x, y), (test_x, test_y) = stripes(500, 100)
    return TensorData.from_arrays(x, y, test_x, test_y)


CONFIG = CompressConfig(
    train=TrainConfig(epochs=3, lr=0.05, batch_size=32),
    prune=PruneConfig(sparsity=0.9, steps=1, retrain_epochs=1),
    finetune_epochs=0,
    val_size=100,
)
BUDGET = SearchConfig(max_loss=2.0, density_trials=3, bits_trials=1)


def comparable(found):
    return [{k: v for k, v in t.to_dict().items() if k != "seconds"} for t in found.trials]


@pytest.fixture(scope="module")
def first(toy, tmp_path_factory):
    """One search within BUDGET, to compare the others with."""
    return search(CONFIG, toy, tmp_path_factory.mktemp("first"), BUDGET, toy.test_x[:2])


def test_max_loss_is_met_by_the_smallest_file_and_the_search_is_deterministic(toy, first, tmp_path):
    found = first
    assert found.baseline_val_error < 0.3  # the toy problem is learned
    assert len(found.trials) >= 3
    feasible = [t for t in found.trials if t.meets_budget]
    assert found.chosen in feasible
    assert 100 * (found.chosen.val_error - found.baseline_val_error) <= BUDGET.max_loss + 1e-9
    assert found.chosen.file_bytes == min(t.file_bytes for t in feasible)
    for t in found.trials:
        loss = 100 * (t.val_error - found.baseline_val_error)
        assert t.meets_budget == (loss <= BUDGET.max_loss + 1e-9)
    # The chosen run is the model whose file was measured: the same bytes again.
    written = write_result(found.result, tmp_path / "chosen.dzip", toy.test_x[:2])
    assert written["file_bytes"] == found.chosen.file_bytes
    assert found.result.stages[-1].val_error == found.chosen.val_error
    d = found.to_dict()
    assert {"ratio", "val_error", "error", "settings", "trials"} <= set(d)
    assert d["error"] == found.result.stages[-1].error  # the test error, measured last

    again = search(CONFIG, toy, tmp_path / "again", BUDGET, toy.test_x[:2])
    assert comparable(again) == comparable(found)


def test_min_ratio_gives_the_most_accurate_file_at_that_ratio(toy, tmp_path):
    budget = SearchConfig(min_ratio=12.0, density_trials=3)
    found = search(CONFIG, toy, tmp_path, budget, toy.test_x[:2])
    feasible = [t for t in found.trials if t.meets_budget]
    assert all(t.ratio >= 12.0 for t in feasible) and found.chosen.ratio >= 12.0
    assert found.chosen.val_error == min(t.val_error for t in feasible)
    # Then one bisection per narrower weight width, below the least aggressiveness that reached
    # the ratio at the wider width (fewer bits reach it with less pruning).
    start = found.trials[0].bits
    phases = [t.phase for t in found.trials]
    assert phases == ["density"] * 3 + ["bits"] * 3 * budget.bits_trials
    for k in range(1, budget.bits_trials + 1):
        wider = [t for t in found.trials if t.bits == {n: b - k + 1 for n, b in start.items()}]
        narrower = [t for t in found.trials if t.bits == {n: b - k for n, b in start.items()}]
        assert len(narrower) == 3
        reached = [t.aggressiveness for t in wider if t.meets_budget] or [1.0]
        assert all(t.aggressiveness < min(reached) for t in narrower)


def test_the_chosen_file_has_the_index_widths_that_make_its_layers_smallest(toy, first, tmp_path):
    from deepzip.container import read_dzip
    from deepzip.container.writer import layer_record_size

    written = write_result(first.result, tmp_path / "chosen.dzip", toy.test_x[:2])
    layers = read_dzip(written["out"]).layers
    for layer in layers:
        sizes = [layer_record_size(dataclasses.replace(layer, index_bits=b)) for b in range(1, 9)]
        assert layer_record_size(layer) == min(sizes)
    # The default fixed width (5 bits) is not what every layer got: the choice is real.
    assert {layer.index_bits for layer in layers} != {5}


class Interrupt(Reporter):
    """Stops the run (as Ctrl-C would) at the first stage of the trial after ``after`` trials."""

    def __init__(self, after=None):
        self.after, self.ended = after, []

    def stage_start(self, stage, resumed):
        if self.after is not None and len(self.ended) == self.after and stage == "prune-1":
            raise KeyboardInterrupt

    def trial_end(self, trial, resumed):
        self.ended.append((trial.index, resumed))


def test_an_interrupted_search_resumes_and_ends_as_an_uninterrupted_one(toy, first, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        search(CONFIG, toy, tmp_path / "cut", BUDGET, toy.test_x[:2], Interrupt(after=2))
    rec = Interrupt()
    resumed = search(CONFIG, toy, tmp_path / "cut", BUDGET, toy.test_x[:2], rec)
    assert rec.ended[:2] == [(1, True), (2, True)]  # read back from search.json, not retrained
    assert all(not r for _, r in rec.ended[2:])
    assert comparable(resumed) == comparable(first)
    # A finished search replays every trial without training.
    rec = Interrupt()
    search(CONFIG, toy, tmp_path / "cut", BUDGET, toy.test_x[:2], rec)
    assert all(r for _, r in rec.ended)


def test_foreign_work_dir_unmeetable_budget_and_bad_settings(toy, tmp_path):
    search(CONFIG, toy, tmp_path, SearchConfig(max_loss=100, density_trials=1, bits_trials=0),
           toy.test_x[:2])  # fmt: skip
    other = dataclasses.replace(CONFIG, train=TrainConfig(epochs=2, lr=0.05, batch_size=32))
    with pytest.raises(Exception, match="other settings"):
        search(other, toy, tmp_path, BUDGET, toy.test_x[:2])
    with pytest.raises(SearchError, match="reached 1e"):
        search(CONFIG, toy, tmp_path, SearchConfig(min_ratio=1e6, density_trials=1),
               toy.test_x[:2])  # fmt: skip
    with pytest.raises(Exception, match="validation split"):
        no_split = dataclasses.replace(CONFIG, val_size=None)
        search(no_split, toy, tmp_path / "none", BUDGET, toy.test_x[:2])
    for bad in ({"max_loss": -1}, {"min_ratio": 0}, {"max_loss": 1, "min_ratio": 2}, {}):
        with pytest.raises(ValueError):
            SearchConfig(**bad)


def test_interpolated_sparsities_grow_with_the_budget():
    result = SensitivityResult(
        0.98, (0.0, 0.5, 0.9, 0.99), {"a": (0.98, 0.97, 0.90, 0.5), "b": (0.98, 0.98, 0.98, 0.97)}
    )
    assert interpolate_sparsities(result, 0.0) == {"a": 0.0, "b": 0.9}
    half = interpolate_sparsities(result, 0.045)
    assert half["a"] == pytest.approx(0.5 + 0.4 * (0.035 / 0.07))
    assert half["b"] == pytest.approx(0.99)
    budgets = np.linspace(0, 0.5, 50)
    a = [interpolate_sparsities(result, b)["a"] for b in budgets]
    assert a == sorted(a) and a[-1] == 0.99


def test_a_layer_that_sharing_alone_would_ruin_is_stored_exact(toy, tmp_path):
    """fc3 asked for 1 bit (one shared value for all its kept weights) loses far more than the
    limit when weight-shared alone after pruning: every trial stores it exact (each kept weight
    its own centroid) and shares the others as usual. The losses are checked against an
    independent recomputation on the chosen trial's pruned network."""
    from deepzip.models import build_model
    from deepzip.pipeline import load_checkpoint, load_state_dict
    from deepzip.share import QuantizeConfig, share_weights
    from deepzip.training import evaluate

    quantize = QuantizeConfig(fc_bits=5, bits={"fc3": 1})
    config = dataclasses.replace(CONFIG, quantize=quantize)
    budget = SearchConfig(max_loss=2.0, density_trials=2, bits_trials=0, exact_loss=1.0)
    found = search(config, toy, tmp_path, budget, toy.test_x[:2])
    for trial in found.trials:
        assert trial.exact == ["fc3"] and trial.sharing_loss["fc3"] > 10
        assert trial.sharing_loss["fc1"] <= 1.0
    assert found.to_dict()["exact"] == ["fc3"]
    layers = {layer.name: layer for layer in found.result.layers}
    fc3 = layers["fc3"]
    assert 0 < fc3.num_kept < fc3.codes.size  # pruned, then stored exact
    kept_values = fc3.dense_weight()[fc3.mask]
    assert len(fc3.codebook) == 1 + len(np.unique(kept_values))  # a code per distinct value
    assert len(layers["fc1"].codebook) <= 32  # shared at 5 bits

    # fc1's loss, recomputed on the chosen trial's pruned network.
    model = build_model("lenet-300-100")
    model.load_state_dict(load_state_dict(tmp_path / "baseline.safetensors"))
    load_checkpoint(found.directory / "prune-1.pt", model)
    val = toy.split_validation(CONFIG.val_size)
    before = evaluate(model, val.val_x, val.val_y)
    share_weights(model, QuantizeConfig(fc_bits=5, bits=found.chosen.bits), ["fc1"])
    after = evaluate(model, val.val_x, val.val_y)
    assert found.chosen.sharing_loss["fc1"] == pytest.approx(100 * (before - after), abs=1e-3)

    # Without a limit nothing is measured and fc3 is shared like the others, at one value
    # (the ruined network then meets only a budget of 100 points).
    plain = dataclasses.replace(budget, max_loss=100.0, exact_loss=None)
    found = search(config, toy, tmp_path / "plain", plain, toy.test_x[:2])
    assert all(t.exact == [] and t.sharing_loss == {} for t in found.trials)
    assert len({layer.name: layer for layer in found.result.layers}["fc3"].codebook) == 2
