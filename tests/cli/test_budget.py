"""``deepzip compress --max-loss P`` / ``--min-ratio R``: a budget instead of densities; the JSON
holds the chosen point and every trial, a Pareto plot lies beside the file, a rerun resumes, and a
bad budget is a bad command line that names the option."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

TINY = ["--epochs", "3", "--steps", "1", "--retrain-epochs", "1", "--finetune-epochs", "0"]


def deepzip(cwd, *args):
    return subprocess.run(
        [sys.executable, "-m", "deepzip", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory, stripes):
    """A learnable toy data set shaped like MNIST (the label is the brightest of 10 stripes)."""
    (x_train, y_train), (x_test, y_test) = stripes(500, 100)
    where = tmp_path_factory.mktemp("budget")
    np.savez(where / "toy.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return where


def test_max_loss_writes_the_chosen_file_trials_and_plot_and_resumes(folder):
    args = ["compress", "--data", "toy.npz", "--out", "small.dzip", *TINY, "--max-loss", "2",
            "--search-trials", "2", "--json"]  # fmt: skip
    done = deepzip(folder, *args)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    found = summary["search"]
    assert {"ratio", "val_error", "error", "settings", "trials", "figure"} <= set(found)
    assert summary["val_size"] == 50  # 10% of the 500 training examples by default
    assert found["budget"] == {"max_loss": 2.0}
    assert 100 * (found["val_error"] - found["baseline_val_error"]) <= 2.0 + 1e-9
    assert found["file_bytes"] == summary["file_bytes"] == (folder / "small.dzip").stat().st_size
    assert found["ratio"] == pytest.approx(summary["ratio"])
    assert found["error"] == summary["finetuned_error"]  # the test error of the file's model
    assert set(found["settings"]["sparsity"]) == {"fc1", "fc2", "fc3"}
    for trial in found["trials"]:
        assert {"ratio", "val_error", "file_bytes", "settings", "meets_budget"} <= set(trial)
    assert (folder / "small-search.png").stat().st_size > 1000
    assert "trial  1 density" in done.stderr
    # Trials are chosen on the validation split: their stage lines show no test error.
    stage_lines = [line for line in done.stderr.splitlines() if "weights kept" in line]
    assert stage_lines and all("val error" in line for line in stage_lines)
    assert not any(re.match(r"\S+\s+error\s", line) for line in stage_lines)

    again = deepzip(folder, *args)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("recorded in search.json") == len(found["trials"])
    resumed = json.loads(again.stdout)["search"]
    for a, b in zip(resumed["trials"], found["trials"]):
        assert {**a, "seconds": 0} == {**b, "seconds": 0}


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--max-loss", "-1"], "--max-loss"),
        (["--min-ratio", "-3"], "--min-ratio"),
        (["--min-ratio", "0"], "--min-ratio"),
        (["--max-loss", "0.5", "--min-ratio", "40"], "--max-loss or --min-ratio, not both"),
        (["--max-loss", "0.5", "--sparsity", "0.9"], "--sparsity"),
        (["--search-trials", "3"], "--search-trials"),
    ],
)
def test_a_bad_budget_exits_2_naming_the_option(folder, options, named):
    done = deepzip(folder, "compress", "--data", "toy.npz", *options)
    assert done.returncode == 2, done.stderr
    assert named in done.stderr
