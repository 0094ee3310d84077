"""Issue 10 as a new user meets it: the user's own ``nn.Module`` (not a Sequential) compressed by
the command line from a ``models.py`` beside the data, then run from the file; an op the engine
cannot run is a warning that names it (or an error with ``--require-runnable``), and ``run`` names
it too."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

TINY = ["--epochs", "1", "--steps", "1", "--retrain-epochs", "1", "--finetune-epochs", "0"]

MODELS = textwrap.dedent(
    """
    import torch
    from torch import nn


    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(1, 8, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(8)
            self.conv = nn.Conv2d(8, 8, 3, padding=1)
            self.head = nn.Linear(8 * 7 * 7, 10)

        def forward(self, x):
            x = torch.relu(self.bn(self.stem(x)))
            x = nn.functional.max_pool2d(x + torch.relu(self.conv(x)), 4)
            return self.head(x.flatten(1))


    class Cumulative(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(28 * 28, 10)

        def forward(self, x):
            return self.fc(torch.cumsum(x.flatten(1), dim=1) / 784)


    def residual():
        torch.manual_seed(0)
        return Residual()


    def cumulative():
        torch.manual_seed(0)
        return Cumulative()
    """
)


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
    """A user's folder: ``usermodels.py`` and a learnable toy data set shaped like MNIST."""
    (x_train, y_train), (x_test, y_test) = stripes(400, 100)
    where = tmp_path_factory.mktemp("user")
    np.savez(where / "toy.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    (where / "usermodels.py").write_text(MODELS)
    return where


def test_a_residual_batchnorm_model_compresses_runs_and_matches_the_users_class(folder):
    done = deepzip(folder, "compress", "--model", "usermodels:residual", "--data", "toy.npz",
                   "--out", "res.dzip", *TINY, "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["runnable"] and summary["network_problems"] == []
    assert "warning" not in done.stderr

    ran = deepzip(folder, "run", "res.dzip", "--data", "toy.npz", "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["accuracy"] == pytest.approx(1 - summary["finetuned_error"])

    # The engine on the file against the user's own class with the decompressed weights: the
    # BatchNorm was folded into the stem, which gained its bias: the class gets an identity there.
    sys.path.insert(0, str(folder))
    try:
        import usermodels
    finally:
        sys.path.remove(str(folder))
    from deepzip.container import read_dzip
    from deepzip.engine import Engine
    from deepzip.network import dense_state_dict

    model = usermodels.residual()
    model.bn = torch.nn.Identity()
    model.stem = torch.nn.Conv2d(1, 8, 3, padding=1)
    model.load_state_dict(dense_state_dict(read_dzip(folder / "res.dzip")))
    x = torch.from_numpy(np.load(folder / "toy.npz")["x_test"][:16, None].astype(np.float32) / 255)
    with torch.no_grad():
        want = model.eval()(x).numpy()
    got = Engine.load(folder / "res.dzip").run(x.numpy())
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_an_op_outside_the_table_is_named_by_compress_and_run(folder):
    done = deepzip(folder, "compress", "--model", "usermodels:cumulative", "--data", "toy.npz",
                   "--out", "cum.dzip", *TINY, "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "warning" in done.stderr and "cumsum" in done.stderr
    summary = json.loads(done.stdout)
    assert not summary["runnable"] and "cumsum" in summary["network_problems"][0]

    decompressed = deepzip(folder, "decompress", "cum.dzip", "-o", "cum.safetensors")
    assert decompressed.returncode == 0, decompressed.stderr
    ran = deepzip(folder, "run", "cum.dzip", "--data", "toy.npz")
    assert ran.returncode != 0
    assert "cumsum" in ran.stderr and "Traceback" not in ran.stderr

    strict = deepzip(folder, "compress", "--model", "usermodels:cumulative", "--data", "toy.npz",
                     "--out", "strict.dzip", "--require-runnable", *TINY)  # fmt: skip
    assert strict.returncode == 1
    assert "--require-runnable" in strict.stderr and "cumsum" in strict.stderr
    assert not (folder / "strict.dzip").exists()
    assert not (folder / "strict.dzip.stages" / "baseline.pt").exists()


def fashion_mnist_dir():
    from pathlib import Path

    shared = Path(__file__).resolve().parents[3] / "shared" / "data" / "fashion-mnist"
    for where in (Path("/usr/share/datasets/fashion-mnist"), shared):
        if any(where.glob("train-labels-idx1-ubyte*")):
            return where
    pytest.skip("Fashion-MNIST not found (apt-get install dataset-fashion-mnist)")


def test_the_readmes_own_model_commands_run_as_written(tmp_path):
    """README, "Your own model": its commands, verbatim but for the data's folder and smaller
    limits appended (the last value of an option wins), from the repository's root."""
    import re
    import shlex
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    text = (root / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Your own model") :]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1).replace("\\\n", " ")
    commands = [shlex.split(line, comments=True) for line in block.splitlines()]
    commands = [c for c in commands if c and c[0] != "apt-get"]
    assert [c[:2] for c in commands] == [["python", "examples/own_model/to_npz.py"],
        ["deepzip", "compress"], ["deepzip", "inspect"], ["deepzip", "run"]]  # fmt: skip
    fashion = str(fashion_mnist_dir())
    quick = {"compress": ["--train-limit", "1000", "--test-limit", "300", "--epochs", "1",
                          "--json"], "run": ["--test-limit", "300", "--json"]}  # fmt: skip
    outputs = []
    for command in commands:
        args = [fashion if a == "/usr/share/datasets/fashion-mnist" else a for a in command]
        args = [str(tmp_path / a) if a.endswith((".npz", ".dzip")) else a for a in args]
        if args[0] == "python":
            args[0:2] = [sys.executable, str(root / args[1])]
        else:
            args[0:1] = [sys.executable, "-m", "deepzip"]
        done = subprocess.run([*args, *quick.get(command[1], [])], capture_output=True,
                              text=True, timeout=600, cwd=root)  # fmt: skip
        assert done.returncode == 0, (command, done.stderr)
        outputs.append(done.stdout)
    compressed, ran = json.loads(outputs[1]), json.loads(outputs[3])
    assert compressed["runnable"] and compressed["ratio"] > 5
    assert ran["accuracy"] == pytest.approx(1 - compressed["finetuned_error"])
