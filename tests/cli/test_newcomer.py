"""Issue 15: what costs a newcomer time. Checks before training, reuse of finished stages, the
demo's file, plans and progress lines, errors in words, the comparison with dense PyTorch."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

RESULTS = Path(__file__).resolve().parents[2] / "results"


def deepzip(*args, cwd=None):
    # Run this checkout's deepzip from any folder: its source folder first on the path.
    import deepzip as package

    source = str(Path(package.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "deepzip", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


def test_layer_name_typo_and_bad_model_caught_before_any_data(tmp_path):
    # tmp_path holds no MNIST files: loading data would fail with "train-images"; the checks
    # must come first.
    typo = deepzip("compress", "--data", tmp_path, "--sparsity", "fc1=0.9,layer1=0.5")
    assert typo.returncode == 2
    assert "--sparsity" in typo.stderr and "'layer1'" in typo.stderr
    assert "fc1, fc2, fc3" in typo.stderr  # the names the model does have
    assert "train-images" not in typo.stderr

    bad_model = deepzip("compress", "--data", tmp_path, "--model", "no_such_pkg.mod:factory")
    assert bad_model.returncode == 1
    assert "cannot load model factory" in bad_model.stderr
    assert "train-images" not in bad_model.stderr

    for value in ("1.5", "-0.1", "fc1=1"):
        result = deepzip("compress", "--data", tmp_path, "--sparsity", value)
        assert result.returncode == 2, value
        assert "--sparsity" in result.stderr

    out = deepzip("compress", "--data", tmp_path, "--out", tmp_path / "no" / "x.dzip")
    assert out.returncode == 2
    assert "--out" in out.stderr and "does not exist" in out.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_compress_help_shows_defaults_and_plan():
    result = deepzip("compress", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # click wraps lines
    for default in (
        "[default: 0.9]",  # sparsity
        "Prune/retrain rounds. [default: 3]",
        "Baseline training epochs. [default: 15]",
        "Baseline learning rate. [default: 0.05]",
        "Weight bits of Linear layers. [default: 5]",
        "Weight bits of Conv2d layers. [default: 8]",
        "Centroid fine-tuning epochs. [default: 3]",
    ):
        assert default in text, default
    for stage in ("baseline", "prune-1..3", "quantize", "finetune"):
        assert stage in text


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_lines_without_a_terminal():
    """Without a terminal (CI, | tee, nohup) a long stage prints a plain line every 30 s."""
    from deepzip.cli.console import ProgressReporter
    from deepzip.pipeline import StageResult

    buffer = io.StringIO()
    clock = FakeClock()
    reporter = ProgressReporter(Console(file=buffer, force_terminal=False), clock=clock)
    reporter.stage_start("baseline", resumed=False)
    for step in range(1, 101):
        clock.now += 1.0  # one step per second: 100 s in all
        reporter.step(step, 100)
    reporter.stage_end(StageResult("baseline", 0.02, 1.0, 100.0))
    lines = buffer.getvalue().splitlines()
    progress = [line for line in lines if "step" in line]
    assert len(progress) == 3  # at 30, 60 and 90 s
    assert progress[0].startswith("baseline   step 30/100 (30%), 30 s so far, about 70 s left")
    assert "error" in lines[-1]


@pytest.mark.mnist
def test_demo_keeps_its_file_and_says_what_next(mnist_dir, tmp_path):
    quick = ["--data", mnist_dir, "--train-limit", "300", "--test-limit", "100"]
    first = deepzip("demo", *quick, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    kept = tmp_path / "lenet-300-100.dzip"
    assert kept.is_file()
    assert str(kept.resolve()) in first.stdout.replace("\n", "")
    assert "deepzip inspect lenet-300-100.dzip" in first.stdout
    assert "deepzip run lenet-300-100.dzip" in first.stdout

    before = kept.read_bytes()
    second = deepzip("demo", *quick, "--json", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert kept.read_bytes() == before  # never overwritten unasked
    assert "lenet-300-100.dzip exists; this demo writes lenet-300-100-2.dzip" in second.stderr
    assert json.loads(second.stdout)["out"] == "lenet-300-100-2.dzip"
    assert (tmp_path / "lenet-300-100-2.dzip").is_file()


def test_file_errors_name_the_file_and_the_problem(tmp_path):
    whole = (RESULTS / "lenet-300-100.dzip").read_bytes()
    truncated = tmp_path / "x.dzip"
    truncated.write_bytes(whole[:1000])
    result = deepzip("inspect", truncated)
    assert result.returncode == 1
    assert (
        f"Error: {truncated}: truncated ({len(whole):,} bytes expected, 1,000 present); "
        f"header.file_size: expected {len(whole)} bytes, got 1000"
    ) in result.stderr

    foreign = tmp_path / "notes.dzip"
    foreign.write_bytes(b"PK\x03\x04" + whole[4:])
    result = deepzip("run", foreign)
    assert result.returncode == 1
    assert f"Error: {foreign}: not a .dzip file; header.magic:" in result.stderr


@pytest.mark.mnist
def test_run_compares_with_dense_torch(mnist_dir):
    result = deepzip(
        "run", RESULTS / "lenet-300-100.dzip", "--data", mnist_dir, "--test-limit", "200", "--json"
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["torch_latency_us"] > 0 and summary["threads"] >= 1
    # The same network: the dense model classifies these inputs as the engine does, or nearly.
    assert abs(summary["torch_accuracy"] - summary["accuracy"]) <= 0.01
    text = deepzip(
        "run", RESULTS / "lenet-300-100.dzip", "--data", mnist_dir, "--test-limit", "200"
    )
    assert "run densely by PyTorch" in text.stdout and "thread" in text.stdout
