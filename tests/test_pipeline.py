"""The pipeline: stages in order, checkpoints after each, resume after an interruption."""

import numpy as np
import pytest
import torch

from deepzip.pipeline import CompressConfig, PipelineError, Reporter, run_pipeline
from deepzip.prune import PruneConfig
from deepzip.share import QuantizeConfig
from deepzip.training import TensorData, TrainConfig


@pytest.fixture(scope="module")
def tiny_data(stripes):
    """A learnable toy problem shaped like MNIST: the label is the brightest of 10 stripes."""
    (x, y), (test_x, test_y) = stripes(600, 200)
    return TensorData.from_arrays(x, y, test_x, test_y)


CONFIG = CompressConfig(
    model="lenet-300-100",
    train=TrainConfig(epochs=2, lr=0.05, batch_size=32),
    prune=PruneConfig(sparsity={"fc1": 0.9, "fc2": 0.9, "fc3": 0.5}, steps=2, retrain_epochs=1),
    quantize=QuantizeConfig(fc_bits=4),
    finetune_epochs=1,
)


class Recorder(Reporter):
    def __init__(self, stop_before=None):
        self.events = []
        self.stop_before = stop_before

    def stage_start(self, stage, resumed):
        if stage == self.stop_before and not resumed:
            raise KeyboardInterrupt
        self.events.append((stage, resumed))


def test_stages_run_in_order_and_learn(tiny_data, tmp_path):
    rec = Recorder()
    result = run_pipeline(CONFIG, tiny_data, tmp_path, rec)
    names = ["baseline", "prune-1", "prune-2", "quantize", "finetune"]
    assert [s.stage for s in result.stages] == names
    assert rec.events == [(n, False) for n in names]
    assert result.error_after("baseline") < 0.2  # the toy problem is easy
    assert result.stages[-1].weights_kept == pytest.approx(
        (0.1 * 784 * 300 + 0.1 * 300 * 100 + 0.5 * 1000) / 266200, abs=1e-4
    )
    assert [layer.name for layer in result.layers] == ["fc1", "fc2", "fc3"]
    assert all(len(layer.codebook) == 16 for layer in result.layers)
    for stage in names:
        assert (tmp_path / f"{stage}.pt").is_file()


def test_interrupted_run_resumes_and_matches_uninterrupted(tiny_data, tmp_path):
    full = run_pipeline(CONFIG, tiny_data, tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(CONFIG, tiny_data, tmp_path / "cut", Recorder(stop_before="quantize"))
    assert not (tmp_path / "cut" / "quantize.pt").exists()
    rec = Recorder()
    resumed = run_pipeline(CONFIG, tiny_data, tmp_path / "cut", rec)
    assert rec.events == [
        ("baseline", True),
        ("prune-1", True),
        ("prune-2", True),
        ("quantize", False),
        ("finetune", False),
    ]
    assert [s.error for s in resumed.stages] == [s.error for s in full.stages]
    for a, b in zip(full.layers, resumed.layers):
        np.testing.assert_array_equal(a.codebook, b.codebook)
        np.testing.assert_array_equal(a.codes, b.codes)
        np.testing.assert_array_equal(a.mask, b.mask)


def test_resuming_a_finished_run_does_no_work(tiny_data, tmp_path):
    run_pipeline(CONFIG, tiny_data, tmp_path)
    rec = Recorder()
    again = run_pipeline(CONFIG, tiny_data, tmp_path, rec)
    assert all(resumed for _, resumed in rec.events)
    assert torch.all(again.model.fc1.weight[~torch.from_numpy(again.layers[0].mask)] == 0)


def test_foreign_work_dir_is_refused_unless_restarted(tiny_data, tmp_path):
    run_pipeline(CONFIG, tiny_data, tmp_path)
    other = CompressConfig(**{**CONFIG.__dict__, "model": "deepzip.models:lenet_300_100"})
    with pytest.raises(PipelineError, match="another configuration"):
        run_pipeline(other, tiny_data, tmp_path)
    rec = Recorder()
    run_pipeline(other, tiny_data, tmp_path, rec, restart=True)
    assert not any(resumed for _, resumed in rec.events)


class Messages(Recorder):
    def __init__(self):
        super().__init__()
        self.messages = []

    def message(self, text):
        self.messages.append(text)


def test_changed_settings_redo_only_the_later_stages(tiny_data, tmp_path):
    """Issue 15: after a pruning-only change the trained baseline is reused, not trained again;
    after a bit-width change the pruned network is reused too; the message says which."""
    first = run_pipeline(CONFIG, tiny_data, tmp_path)
    prune = PruneConfig(sparsity={"fc1": 0.8, "fc2": 0.9, "fc3": 0.5}, steps=2, retrain_epochs=1)
    pruned_differently = CompressConfig(**{**CONFIG.__dict__, "prune": prune})
    rec = Messages()
    second = run_pipeline(pruned_differently, tiny_data, tmp_path, rec)
    assert rec.events == [
        ("baseline", True),
        ("prune-1", False),
        ("prune-2", False),
        ("quantize", False),
        ("finetune", False),
    ]
    assert second.stages[0] == first.stages[0]  # the same baseline, not retrained
    assert rec.messages == [
        f"{tmp_path}: settings changed from stage prune-1 on; reusing baseline; "
        "redoing prune-1, prune-2, quantize, finetune"
    ]
    assert second.layers[0].density == pytest.approx(0.2, abs=1e-3)

    fewer_bits = CompressConfig(
        **{**pruned_differently.__dict__, "quantize": QuantizeConfig(fc_bits=3)}
    )
    rec = Messages()
    third = run_pipeline(fewer_bits, tiny_data, tmp_path, rec)
    assert [resumed for _, resumed in rec.events] == [True, True, True, False, False]
    assert third.stages[:3] == second.stages[:3]
    assert all(len(layer.codebook) <= 8 for layer in third.layers)
    assert "reusing baseline, prune-1, prune-2; redoing quantize, finetune" in rec.messages[0]

    # Fewer pruning rounds: the checkpoint of the round that no longer exists is removed.
    one_round = CompressConfig(
        **{**fewer_bits.__dict__, "prune": PruneConfig(sparsity=0.9, steps=1, retrain_epochs=1)}
    )
    run_pipeline(one_round, tiny_data, tmp_path)
    assert not (tmp_path / "prune-2.pt").exists()


def test_wrong_layer_name_fails_before_any_work(tiny_data, tmp_path):
    from deepzip.pipeline import check_config

    typo = PruneConfig(sparsity={"fc1": 0.9, "layer1": 0.5})
    config = CompressConfig(**{**CONFIG.__dict__, "prune": typo})
    with pytest.raises(
        PipelineError, match=r"prune.sparsity: no compressible layer named 'layer1'"
    ):
        check_config(config)
    rec = Recorder()
    with pytest.raises(PipelineError, match="layer1"):
        run_pipeline(config, tiny_data, tmp_path / "w", rec)
    assert rec.events == []  # no stage started
    assert not (tmp_path / "w").exists()  # nothing written
    bits = QuantizeConfig(bits={"conv9": 4})
    with pytest.raises(PipelineError, match=r"quantize\.bits: .*conv9"):
        check_config(CompressConfig(**{**CONFIG.__dict__, "quantize": bits}))


def test_corrupt_checkpoint_is_a_clear_error(tiny_data, tmp_path):
    run_pipeline(CONFIG, tiny_data, tmp_path)
    (tmp_path / "finetune.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(PipelineError, match="unreadable"):
        run_pipeline(CONFIG, tiny_data, tmp_path)


def test_result_round_trips_through_a_dzip_file(tiny_data, tmp_path):
    from deepzip.container import read_dzip, write_dzip
    from deepzip.network import to_compressed_model, to_torch

    result = run_pipeline(CONFIG, tiny_data, tmp_path / "w")
    path = tmp_path / "model.dzip"
    write_dzip(path, to_compressed_model(result.model, CONFIG.quantize, tiny_data.test_x[:2]))
    back = read_dzip(path)
    for a, b in zip(result.layers, back.layers):
        assert (a.name, a.kind, a.weight_bits, a.index_bits) == (
            b.name,
            b.kind,
            b.weight_bits,
            b.index_bits,
        )
        np.testing.assert_array_equal(a.dense_weight(), b.dense_weight())
        np.testing.assert_array_equal(a.bias, b.bias)
    with torch.no_grad():
        x = tiny_data.test_x[:50]
        assert torch.equal(
            to_torch(back)(x), to_torch(to_compressed_model(result.model, None, x))(x)
        )
        torch.testing.assert_close(to_torch(back)(x), result.model(x), rtol=1e-5, atol=1e-6)


def test_user_model_factory_and_weights(tiny_data, tmp_path):
    from deepzip.models import lenet_300_100
    from deepzip.pipeline import build, save_state_dict

    trained = lenet_300_100()
    weights = tmp_path / "w.safetensors"
    save_state_dict(weights, trained.state_dict())
    config = CompressConfig(model="deepzip.models:lenet_300_100", weights=str(weights))
    model = build(config)
    assert torch.equal(model.fc1.weight, trained.fc1.weight)
    torch.save(trained.state_dict(), tmp_path / "w.pt")
    build(CompressConfig(model="deepzip.models:lenet_300_100", weights=str(tmp_path / "w.pt")))
    with pytest.raises(PipelineError, match="neither a built-in"):
        build(CompressConfig(model="resnet"))
    with pytest.raises(PipelineError, match="cannot load"):
        build(CompressConfig(model="no.such.module:factory"))
    with pytest.raises(PipelineError, match="do not fit"):
        build(CompressConfig(model="lenet-5", weights=str(weights)))


class StepCounter(Reporter):
    def __init__(self):
        self.stage, self.totals = None, {}

    def stage_start(self, stage, resumed):
        self.stage = stage

    def step(self, done, total):
        self.totals[self.stage] = total


def test_smaller_file_options_keep_the_function(tiny_data, tmp_path):
    """Half-precision values, plain k-means, sorted units and a longer last retraining: the file
    still computes what the PyTorch model computes, in fewer bytes."""
    from deepzip.container import read_dzip, write_dzip
    from deepzip.network import to_compressed_model, to_torch

    quantize = QuantizeConfig(fc_bits=4, value_bits=16, relocate_empty=False, sort_units=True)
    prune = PruneConfig(
        sparsity={"fc1": 0.9, "fc2": 0.9, "fc3": 0.5},
        steps=2,
        retrain_epochs=1,
        final_retrain_epochs=2,
    )
    config = CompressConfig(**{**CONFIG.__dict__, "quantize": quantize, "prune": prune})
    counter = StepCounter()
    result = run_pipeline(config, tiny_data, tmp_path / "w", counter)
    assert counter.totals["prune-2"] == 2 * counter.totals["prune-1"]
    path = tmp_path / "small.dzip"
    example = tiny_data.test_x[:2]
    small = write_dzip(path, to_compressed_model(result.model, quantize, example))
    plain = to_compressed_model(result.model, CONFIG.quantize, example)
    plain = write_dzip(tmp_path / "plain.dzip", plain)
    assert small < plain
    back = read_dzip(path)
    assert all(layer.value_bits == 16 for layer in back.layers)
    kept = np.count_nonzero(back.layers[0].mask, axis=1)
    assert np.all(np.diff(kept) <= 0)  # fc1's units, most kept weights first
    with torch.no_grad():
        x = tiny_data.test_x[:50]
        torch.testing.assert_close(to_torch(back)(x), result.model(x), rtol=1e-4, atol=1e-5)


def test_setting_added_by_a_newer_version_counts_as_changed(tiny_data, tmp_path):
    """A work directory from before the cluster cap: its quantized stages were made without it,
    so they are redone; the baseline and pruning rounds are reused."""
    import json

    run_pipeline(CONFIG, tiny_data, tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    del saved["quantize"]["weights_per_cluster"]
    (tmp_path / "config.json").write_text(json.dumps(saved, sort_keys=True))
    rec = Messages()
    run_pipeline(CONFIG, tiny_data, tmp_path, rec)
    assert [resumed for _, resumed in rec.events] == [True, True, True, False, False]


class Lines(Reporter):
    def __init__(self):
        self.lines = []

    def message(self, text):
        self.lines.append(text)


def test_fine_tuning_that_raises_the_validation_error_is_undone(tiny_data, tmp_path):
    from dataclasses import replace

    from deepzip.pipeline import read_checkpoint

    # A learning rate 500 times the baseline's throws the centroids far off: worse on validation.
    harmful = replace(CONFIG, val_size=100, finetune_lr_factor=500.0, finetune_if_better=True)
    rec = Lines()
    kept = run_pipeline(harmful, tiny_data, tmp_path / "kept", rec)
    quantize, finetune = kept.stages[-2:]
    assert finetune.val_error == quantize.val_error and finetune.error == quantize.error
    assert any("raised the validation error" in line for line in rec.lines)
    before = read_checkpoint(tmp_path / "kept" / "quantize.pt").state_dict
    after = read_checkpoint(tmp_path / "kept" / "finetune.pt").state_dict
    assert all(torch.equal(before[k], after[k]) for k in before)
    # Without the check the same run keeps the harmful centroids.
    plain = run_pipeline(replace(harmful, finetune_if_better=False), tiny_data, tmp_path / "plain")
    assert plain.stages[-1].val_error > quantize.val_error
    # Fine-tuning that helps is kept (at the baseline rate it does, on this toy problem).
    gentle = replace(harmful, finetune_lr_factor=1.0)
    rec = Lines()
    helped = run_pipeline(gentle, tiny_data, tmp_path / "gentle", rec)
    assert not any("raised the validation error" in line for line in rec.lines)
    tuned = read_checkpoint(tmp_path / "gentle" / "finetune.pt").state_dict
    untuned = read_checkpoint(tmp_path / "gentle" / "quantize.pt").state_dict
    assert helped.stages[-1].val_error <= helped.stages[-2].val_error
    assert any(not torch.equal(tuned[k], untuned[k]) for k in tuned)


def test_fine_tuning_if_better_needs_a_validation_split(tiny_data, tmp_path):
    from dataclasses import replace

    with pytest.raises(PipelineError, match="validation"):
        run_pipeline(replace(CONFIG, finetune_if_better=True), tiny_data, tmp_path)
    assert not any(tmp_path.iterdir())  # refused before anything is written


@pytest.mark.parametrize("stop_before", ["quantize", "finetune"])
def test_an_lstm_run_resumes_from_its_checkpoints(tiny_data, tmp_path, stop_before):
    """An LSTM's compressed weights are weight_ih_l0 / weight_hh_l0, not "weight": its masks and
    shared weights must be found again in a checkpoint (a resumed run once failed to load)."""
    from dataclasses import replace

    config = replace(
        CONFIG,
        model="lstm",
        train=TrainConfig(epochs=1, lr=0.05, batch_size=32),
        prune=PruneConfig(sparsity=0.8, steps=1, retrain_epochs=1),
    )
    full = run_pipeline(config, tiny_data, tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(config, tiny_data, tmp_path / "cut", Recorder(stop_before=stop_before))
    resumed = run_pipeline(config, tiny_data, tmp_path / "cut")
    assert [s.error for s in resumed.stages] == [s.error for s in full.stages]
    names = {layer.name for layer in resumed.layers}
    assert {"lstm.weight_ih_l0", "lstm.weight_hh_l0"} <= names
    for a, b in zip(resumed.layers, full.layers, strict=True):
        assert np.array_equal(a.codes, b.codes) and np.array_equal(a.codebook, b.codebook)
