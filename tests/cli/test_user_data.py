"""Issue 10 through the command line: the user's data as .npz/.safetensors arrays, the user's
normalization recorded in the file and applied by ``run``, loaded weights measured first."""

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

TINY = ["--epochs", "1", "--steps", "1", "--retrain-epochs", "1", "--finetune-epochs", "0"]


def deepzip(*args):
    return subprocess.run(
        [sys.executable, "-m", "deepzip", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def arrays(tmp_path_factory, stripes):
    """A learnable toy data set shaped like MNIST, as .npz and .safetensors files."""
    (x_train, y_train), (x_test, y_test) = stripes(600, 200)
    folder = tmp_path_factory.mktemp("arrays")
    npz = folder / "toy.npz"
    np.savez(npz, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    from safetensors.numpy import save_file

    st = folder / "toy.safetensors"
    save_file({"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}, st)
    only_test = folder / "inputs.npz"
    np.savez(only_test, x_test=x_test[:50])
    return {"npz": npz, "safetensors": st, "inputs": only_test, "x_test": x_test}


def test_npz_data_normalize_recorded_and_applied_by_run(arrays, tmp_path):
    out = tmp_path / "toy.dzip"
    done = deepzip(
        "compress", "--data", arrays["npz"], "--out", out, "--normalize", "0.2,0.3", *TINY, "--json"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["baseline_error"] < 0.5  # it learned from the .npz file
    from deepzip.container import read_dzip

    tensors = read_dzip(out).tensors
    np.testing.assert_array_equal(tensors["deepzip.input_mean"], np.float32([0.2]))
    np.testing.assert_array_equal(tensors["deepzip.input_std"], np.float32([0.3]))

    # run applies the recorded normalization by itself; its accuracy matches compress's.
    ran = deepzip("run", out, "--data", arrays["safetensors"], "--json")
    assert ran.returncode == 0, ran.stderr
    summary = json.loads(ran.stdout)
    assert summary["normalization"] == {"mean": [0.2], "std": [0.3]}
    assert summary["accuracy"] == pytest.approx(1 - json.loads(done.stdout)["finetuned_error"])

    agreeing = deepzip("run", out, "--data", arrays["npz"], "--normalize", "0.2,0.3")
    assert agreeing.returncode == 0, agreeing.stderr
    refused = deepzip("run", out, "--data", arrays["npz"], "--normalize", "0.1307,0.3081")
    assert refused.returncode == 2
    assert "--normalize" in refused.stderr and "records" in refused.stderr

    # Inputs without labels: run writes the outputs; they equal the engine's on those inputs.
    saved = tmp_path / "outputs.npy"
    outputs = deepzip("run", out, "--data", arrays["inputs"], "--save-outputs", saved)
    assert outputs.returncode == 0, outputs.stderr
    assert "no labels" in outputs.stdout
    from deepzip.engine import Engine

    x = (arrays["x_test"][:50, None].astype(np.float32) / 255 - 0.2) / 0.3
    np.testing.assert_allclose(np.load(saved), Engine.load(out).run(x), rtol=1e-5, atol=1e-5)

    # decompress gives the model's weights only, not the recorded normalization.
    dense = tmp_path / "dense.safetensors"
    assert deepzip("decompress", out, "-o", dense).returncode == 0
    from safetensors.numpy import load_file

    assert not any(k.startswith("deepzip.") for k in load_file(dense))


def test_bad_array_files_name_the_file_and_the_array(arrays, tmp_path):
    partial = tmp_path / "partial.npz"
    np.savez(partial, x_train=np.zeros((2, 28, 28), np.uint8))
    result = deepzip("compress", "--data", partial, "--out", tmp_path / "o.dzip")
    assert result.returncode == 1
    assert f"{partial}: no array named y_train, x_test, y_test" in result.stderr
    odd = deepzip("compress", "--data", arrays["npz"], "--normalize", "0.1,0.2,0.3")
    assert odd.returncode == 2 and "--normalize" in odd.stderr


def test_weights_near_chance_stop_before_any_stage(arrays, tmp_path):
    """A model fed other preprocessing than it was trained with scores near chance: compress
    says so before it changes anything, and stops unless told to go on."""
    import torch

    from deepzip.models import lenet_300_100
    from deepzip.pipeline import save_state_dict

    torch.manual_seed(0)
    weights = tmp_path / "untrained.safetensors"
    save_state_dict(weights, lenet_300_100().state_dict())  # scores about 10%: chance
    out = tmp_path / "o.dzip"
    args = ["compress", "--data", arrays["npz"], "--weights", weights, "--out", out, *TINY]
    stopped = deepzip(*args)
    assert stopped.returncode == 1
    assert "loaded weights" in stopped.stderr and "before any change" in stopped.stderr
    assert "near chance" in stopped.stderr and "--normalize" in stopped.stderr
    assert not (tmp_path / "o.dzip.stages").exists()
    forced = deepzip(*args, "--allow-near-chance")
    assert forced.returncode == 0, forced.stderr
    assert out.is_file()


@pytest.mark.skipif(
    importlib.util.find_spec("deepzip.report.html") is None,
    reason="deepzip.report.html (the HTML report) is not in this checkout yet",
)
def test_compress_report_writes_html(arrays, tmp_path):
    out = tmp_path / "toy.dzip"
    done = deepzip("compress", "--data", arrays["npz"], "--out", out, *TINY, "--report")
    assert done.returncode == 0, done.stderr
    assert "report:" in done.stderr
    assert list(tmp_path.glob("*.html")) or list(tmp_path.rglob("*.html"))
