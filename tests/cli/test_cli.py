"""The real ``deepzip`` command: exit codes, JSON output, resume, and clear errors."""

import json
import subprocess
import sys

import pytest

QUICK = ["--train-limit", "1500", "--test-limit", "500"]


def deepzip(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "deepzip", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


def test_help_lists_commands():
    result = deepzip("--help")
    assert result.returncode == 0
    for command in ("demo", "compress", "sensitivity", "dsd"):
        assert command in result.stdout


@pytest.mark.mnist
def test_demo_json_keys_on_real_mnist(mnist_dir, tmp_path):
    out = tmp_path / "demo.dzip"
    result = deepzip(
        "demo", "--data", mnist_dir, "--json", *QUICK, "--work-dir", tmp_path, "--out", out
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    for key in ("baseline_error", "pruned_error", "quantized_error", "weights_kept"):
        assert 0.0 <= summary[key] <= 1.0
    # The demo prunes to the paper's LeNet-300-100 densities: 8%, 9%, 26% (8.2% overall).
    expected = (0.08 * 235200 + 0.09 * 30000 + 0.26 * 1000) / 266200
    assert summary["weights_kept"] == pytest.approx(expected, abs=1e-4)
    assert summary["baseline_error"] < 0.2  # 1,500 images are enough for a rough classifier
    # The honest size: a real .dzip file was written and measured.
    assert summary["dense_bytes"] == 4 * (266200 + 410)
    assert summary["ratio"] == pytest.approx(summary["dense_bytes"] / summary["file_bytes"])
    assert summary["ratio"] > 20
    # Progress and stage lines go to stderr, so stdout is pure JSON.
    assert "baseline" in result.stderr


@pytest.mark.mnist
def test_compress_writes_layers_and_resumes(mnist_dir, tmp_path):
    out = tmp_path / "lenet.dzip"
    args = [
        "compress",
        "--data",
        mnist_dir,
        "--out",
        out,
        "--epochs",
        "1",
        "--steps",
        "2",
        "--retrain-epochs",
        "1",
        "--finetune-epochs",
        "1",
        "--sparsity",
        "0.9",
        "--fc-bits",
        "4",
        "--json",
        *QUICK,
    ]
    first = deepzip(*args)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert out.is_file()
    assert [s["stage"] for s in summary["stages"]] == [
        "baseline",
        "prune-1",
        "prune-2",
        "quantize",
        "finetune",
    ]
    assert all(layer["clusters"] == 16 for layer in summary["layers"])

    assert summary["file_bytes"] == out.stat().st_size
    assert summary["dense_bytes"] == 4 * (266200 + 300 + 100 + 10)
    from deepzip.container import read_dzip

    layers = read_dzip(out).layers
    assert [layer.name for layer in layers] == ["fc1", "fc2", "fc3"]
    assert all(abs(layer.density - 0.1) < 1e-3 for layer in layers)

    # inspect: the total row is the file's real size; the JSON has the contract keys.
    shown = deepzip("inspect", out, "--json")
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["file_bytes"] == out.stat().st_size == report["total"]["bytes_pqh"]
    assert report["dense_bytes"] == summary["dense_bytes"]
    assert [row["name"] for row in report["layers"]] == ["fc1", "fc2", "fc3"]
    assert sum(report["parts"].values()) == report["file_bytes"]
    table = deepzip("inspect", out)
    assert table.returncode == 0 and "fc1" in table.stdout and "total" in table.stdout

    # decompress: dense weights equal the fine-tuned quantized model's, bit for bit.
    import torch
    from safetensors.numpy import load_file

    for suffix in (".safetensors", ".pt"):
        dense = tmp_path / f"dense{suffix}"
        done = deepzip("decompress", out, "-o", dense)
        assert done.returncode == 0, done.stderr
        state = (
            load_file(dense)
            if suffix == ".safetensors"
            else {k: v.numpy() for k, v in torch.load(dense, weights_only=True).items()}
        )
        for layer in layers:
            assert state[f"{layer.name}.weight"].tobytes() == layer.dense_weight().tobytes()
            assert state[f"{layer.name}.bias"].tobytes() == layer.bias.tobytes()

    # Simulate an interruption: drop the last two checkpoints, run again, it resumes.
    for stage in ("quantize", "finetune"):
        (tmp_path / "lenet.dzip.stages" / f"{stage}.pt").unlink()
    second = deepzip(*args)
    assert second.returncode == 0, second.stderr
    assert second.stderr.count("resumed") == 3
    assert json.loads(second.stdout)["stages"][-1]["error"] == summary["stages"][-1]["error"]

    # Other bit widths in the same work directory: the trained and pruned stages are reused.
    third = deepzip(*[a if a != "4" else "3" for a in args])
    assert third.returncode == 0, third.stderr
    assert "reusing baseline, prune-1, prune-2; redoing quantize, finetune" in third.stderr
    assert third.stderr.count("resumed") == 3
    assert all(layer["clusters"] <= 8 for layer in json.loads(third.stdout)["layers"])

    # Another model in the same work directory is refused.
    fourth = deepzip(*args, "--model", "deepzip.models:lenet_300_100")
    assert fourth.returncode == 1
    assert "another configuration" in fourth.stderr


@pytest.mark.mnist
def test_sensitivity_and_dsd_json(mnist_dir, tmp_path):
    sens = deepzip(
        "sensitivity",
        "--data",
        mnist_dir,
        "--epochs",
        "1",
        "--ratios",
        "0,0.5,0.9",
        "--json",
        *QUICK,
    )
    assert sens.returncode == 0, sens.stderr
    result = json.loads(sens.stdout)
    assert set(result["accuracy"]) == {"fc1", "fc2", "fc3"}
    assert result["ratios"] == [0.0, 0.5, 0.9]
    assert result["accuracy"]["fc1"][0] == result["baseline"]
    assert set(result["chosen_sparsity"]) == {"fc1", "fc2", "fc3"}

    out = tmp_path / "dsd.safetensors"
    dsd = deepzip(
        "dsd",
        "--data",
        mnist_dir,
        "--epochs",
        "1",
        "--phase-epochs",
        "1",
        "--out",
        out,
        "--json",
        *QUICK,
    )
    assert dsd.returncode == 0, dsd.stderr
    summary = json.loads(dsd.stdout)
    assert summary["sparsity"] == 0.3
    assert {"dense_error", "sparse_error", "redense_error"} <= set(summary)
    assert out.is_file()


def test_bad_input_gives_clear_errors(tmp_path):
    missing = deepzip("demo", "--data", tmp_path / "nope")
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr

    empty = deepzip("compress", "--data", tmp_path, "--out", tmp_path / "x.dzip")
    assert empty.returncode == 1
    assert "train-images" in empty.stderr
    assert not (tmp_path / "x.dzip").exists()

    corrupt = tmp_path / "bad.dzip"
    corrupt.write_bytes(b"DZIP" + bytes(40))
    for args in (["inspect", corrupt], ["decompress", corrupt, "-o", tmp_path / "o.safetensors"]):
        result = deepzip(*args)
        assert result.returncode == 1, args
        assert result.stderr.startswith("Error:")
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "o.safetensors").exists()

    sparsity = deepzip("compress", "--sparsity", "lots", "--data", tmp_path)
    assert sparsity.returncode == 2
    assert "--sparsity" in sparsity.stderr

    bits = deepzip("compress", "--fc-bits", "40")
    assert bits.returncode == 2

    unknown = deepzip("frobnicate")
    assert unknown.returncode == 2


@pytest.mark.mnist
def test_bad_model_and_weights(mnist_dir, tmp_path):
    garbage = tmp_path / "w.pt"
    garbage.write_bytes(b"\x00garbage")
    bad_weights = deepzip(
        "compress",
        "--data",
        mnist_dir,
        "--weights",
        garbage,
        *QUICK,
        "--out",
        tmp_path / "o.dzip",
    )
    assert bad_weights.returncode == 1
    assert "cannot read" in bad_weights.stderr
    assert not (tmp_path / "o.dzip.stages").exists()  # nothing written on bad input
    bad_model = deepzip(
        "compress",
        "--data",
        mnist_dir,
        "--model",
        "alexnet",
        *QUICK,
        "--out",
        tmp_path / "o.dzip",
    )
    assert bad_model.returncode == 1
    assert "neither a built-in" in bad_model.stderr
    assert not (tmp_path / "o.dzip").exists()


def test_sim_benchmark_layer_json():
    result = deepzip("sim", "--layer", "nt-lstm", "--pes", "16", "--fifo", "4", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    for key in ("cycles", "latency_us", "load_efficiency", "energy_uj"):
        assert summary[key] > 0
    assert summary["latency_us"] == pytest.approx(summary["cycles"] / 800)
    assert deepzip("sim").returncode == 2  # neither a file nor --layer


@pytest.mark.mnist
def test_compress_smaller_file_options(mnist_dir, tmp_path):
    out = tmp_path / "small.dzip"
    work = tmp_path / "work"
    result = deepzip(
        "compress",
        "--data",
        mnist_dir,
        "--out",
        out,
        "--work-dir",
        work,
        "--epochs",
        "1",
        "--steps",
        "1",
        "--retrain-epochs",
        "0",
        "--final-retrain-epochs",
        "1",
        "--finetune-epochs",
        "0",
        "--sparsity",
        "0.9",
        "--value-bits",
        "16",
        "--keep-empty-clusters",
        "--sort-units",
        "--json",
        *QUICK,
    )
    assert result.returncode == 0, result.stderr
    config = json.loads((work / "config.json").read_text())
    assert config["prune"]["final_retrain_epochs"] == 1
    assert config["quantize"]["value_bits"] == 16
    assert config["quantize"]["relocate_empty"] is False
    assert config["quantize"]["sort_units"] is True
    from deepzip.container import read_dzip

    layers = read_dzip(out).layers
    assert all(layer.value_bits == 16 for layer in layers)
    for layer in layers[:2]:  # hidden units, most kept weights first; the outputs keep their order
        kept = layer.mask.sum(axis=1)
        assert all(kept[:-1] >= kept[1:])


def test_reproduce_refuses_bad_points_and_seeds_before_any_work(tmp_path):
    result = deepzip("reproduce", "mobilenet-v1", "--point", "paper", cwd=tmp_path)
    assert result.returncode == 2 and "one operating point, search" in result.stderr
    result = deepzip("reproduce", "lenet-5", "--seeds", "0", cwd=tmp_path)
    assert result.returncode == 2 and "--seeds" in result.stderr
    assert not any(tmp_path.iterdir())


def test_reproduce_point_names_expand_in_run_order():
    from deepzip.cli.reproduce import _points

    assert _points((), "lenet-5") == ()  # the recipe's own points
    assert _points(("search", "paper"), "lenet-5") == ("paper", "search")
    assert _points(("both",), "lenet-300-100") == ("paper", "beyond")
    assert _points(("all",), "lenet-5") == ("paper", "search", "beyond")
    assert _points(("search",), "lstm") == ("search",)
