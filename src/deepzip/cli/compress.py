"""The ``compress`` command: prune, retrain, quantize and fine-tune a model, with a checkpoint
after every stage, and write it as a .dzip file (Deep Compression §2–§4).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from deepzip.cli import console
from deepzip.cli.console import err, out, percent, print_json
from deepzip.cli.options import (
    check_model,
    check_outputs,
    data_option,
    fail_cleanly,
    given,
    json_option,
    limit_options,
    load_data,
    model_option,
    normalize_option,
    parse_normalize,
    parse_sparsity,
    plan_text,
    resolve_val_size,
    seed_option,
    val_size_option,
    weights_option,
)
from deepzip.pipeline import CompressConfig

if TYPE_CHECKING:
    from deepzip.search import SearchConfig

_DEFAULTS = CompressConfig()
_train, _prune, _quant = _DEFAULTS.train, _DEFAULTS.prune, _DEFAULTS.quantize
_HELP = f"""Prune, retrain, quantize and fine-tune a model, with a checkpoint after every stage,
and write it as a .dzip file.

\b
Plan of stages with the defaults (each option below changes one part of it):
  baseline   train {_train.epochs} epochs at lr {_train.lr} (none with --weights)
  prune-1..{_prune.steps} remove weights by magnitude towards sparsity {_prune.sparsity},
             then retrain {_prune.retrain_epochs} epochs at {_prune.retrain_lr_factor} × lr
  quantize   1-D k-means per layer: {_quant.fc_bits}-bit Linear, {_quant.conv_bits}-bit Conv2d
  finetune   train the centroids {_DEFAULTS.finetune_epochs} epochs at \
{_DEFAULTS.finetune_lr_factor} × lr
then Huffman-code into --out. A rerun resumes; after a change of settings only the stages from
the first changed one on are redone.
"""


def _default(text: str, value: object) -> str:
    return f"{text} [default: {value}]"


@click.command(help=_HELP)
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
@click.option(
    "--sparsity",
    help=_default(
        "Fraction to prune: 0.9, or per layer fc1=0.92,fc2=0.91 (the model's layer names).",
        _DEFAULTS.prune.sparsity,
    ),
)
@click.option(
    "--quality",
    type=click.FloatRange(min=0),
    help="Prune |w| <= quality × std(w) instead of --sparsity.",
)
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    help=_default("Prune/retrain rounds.", _DEFAULTS.prune.steps),
)
@click.option(
    "--epochs",
    type=click.IntRange(min=0),
    help=_default("Baseline training epochs.", _DEFAULTS.train.epochs),
)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    help=_default("Baseline learning rate.", _DEFAULTS.train.lr),
)
@click.option(
    "--retrain-epochs",
    type=click.IntRange(min=0),
    help=_default("Epochs after each pruning round.", _DEFAULTS.prune.retrain_epochs),
)
@click.option(
    "--finetune-epochs",
    type=click.IntRange(min=0),
    help=_default("Centroid fine-tuning epochs.", _DEFAULTS.finetune_epochs),
)
@click.option(
    "--fc-bits",
    type=click.IntRange(1, 12),
    help=_default("Weight bits of Linear layers.", _DEFAULTS.quantize.fc_bits),
)
@click.option(
    "--conv-bits",
    type=click.IntRange(1, 12),
    help=_default("Weight bits of Conv2d layers.", _DEFAULTS.quantize.conv_bits),
)
@click.option(
    "--init",
    type=click.Choice(["linear", "density", "random"]),
    help=_default("k-means initialisation.", _DEFAULTS.quantize.init),
)
@click.option(
    "--index-bits",
    type=click.IntRange(2, 8),
    help=_default("Bits per relative index.", _DEFAULTS.quantize.index_bits),
)
@click.option(
    "--retrain-lr-factor",
    type=click.FloatRange(min=0, min_open=True),
    help=_default(
        "Retraining learning rate as a fraction of --lr.", _DEFAULTS.prune.retrain_lr_factor
    ),
)
@click.option(
    "--finetune-lr-factor",
    type=click.FloatRange(min=0, min_open=True),
    help=_default(
        "Centroid fine-tuning learning rate as a fraction of --lr.", _DEFAULTS.finetune_lr_factor
    ),
)
@click.option(
    "--final-retrain-epochs",
    type=click.IntRange(min=0),
    help=_default("Epochs after the last pruning round.", "--retrain-epochs"),
)
@click.option(
    "--value-bits",
    type=click.Choice(["32", "16"]),
    help=_default(
        "Precision of the stored codebooks and biases; 16 rounds them to float16.",
        _DEFAULTS.quantize.value_bits,
    ),
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
@normalize_option
@click.option(
    "--allow-near-chance",
    is_flag=True,
    help="Go on when the loaded --weights score near chance on the data (by default that stops "
    "the run: the model most likely expects other preprocessing).",
)
@click.option(
    "--require-runnable",
    is_flag=True,
    help="Stop, before any training, when the model has an op that the engine and `deepzip run` "
    "cannot run (by default that is a warning and the file holds the layers and tensors only).",
)
@click.option(
    "--report",
    "write_html",
    is_flag=True,
    help="After writing the .dzip file, write its HTML report beside it.",
)
@click.option(
    "--max-loss",
    type=float,
    metavar="P",
    help="Search for the smallest file that loses at most P points of validation accuracy "
    "(the task's metric) against the trained baseline: 0.5 means half a point. Chooses "
    "per-layer densities, then weight bits; replaces --sparsity.",
)
@click.option(
    "--min-ratio",
    type=float,
    metavar="R",
    help="Search for the most accurate file (on the validation split) at least R times "
    "smaller than the dense fp32 weights; chooses per-layer densities; replaces --sparsity.",
)
@click.option(
    "--search-trials",
    type=click.IntRange(min=1),
    help="Bisection steps over the densities with --max-loss or --min-ratio (each one a "
    "whole prune/retrain/quantize run), before up to 3 trials of fewer weight bits. "
    "[default: 6]",
)
@val_size_option(
    "Default: none for a plain run, every training example is trained on; with --max-loss or "
    "--min-ratio, the last 10% of the training examples, at most 5,000. With a split, each "
    "stage reports its validation error beside its test error."
)
@json_option
@seed_option
@limit_options
@fail_cleanly
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
    normalize: str | None,
    allow_near_chance: bool,
    require_runnable: bool,
    write_html: bool,
    max_loss: float | None,
    min_ratio: float | None,
    search_trials: int | None,
    val_size: int | None,
    as_json: bool,
    seed: int,
    train_limit: int | None,
    test_limit: int | None,
) -> None:
    from deepzip.config import from_json
    from deepzip.pipeline import CompressConfig, run_pipeline, write_result

    budget = check_budget(max_loss, min_ratio, search_trials, sparsity, quality)
    config = from_json(CompressConfig, config_file.read_text()) if config_file else CompressConfig()
    config = replace(config, model=model, weights=str(weights) if weights else config.weights)
    norm = parse_normalize(normalize)
    if norm is not None:
        config = replace(config, input_mean=norm.mean, input_std=norm.std)
    train_cfg = replace(config.train, seed=seed, **given(epochs=epochs, lr=lr))
    prune_cfg = config.prune
    if sparsity is not None or quality is not None:
        prune_cfg = replace(prune_cfg, sparsity=parse_sparsity(sparsity), quality=quality)
    prune_cfg = replace(
        prune_cfg,
        **given(
            steps=steps,
            retrain_epochs=retrain_epochs,
            retrain_lr_factor=retrain_lr_factor,
            final_retrain_epochs=final_retrain_epochs,
        ),
    )
    quant_cfg = replace(
        config.quantize,
        **given(
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
        **given(
            finetune_epochs=finetune_epochs,
            finetune_lr_factor=finetune_lr_factor,
            train_subset=train_limit,
            test_subset=test_limit,
        ),
    )
    stem = model.replace(":", "_").replace(".", "_")
    out_path = out_path or Path(f"{stem}.dzip")
    work_dir = work_dir or out_path.with_name(out_path.name + ".stages")
    # Everything that can be checked without data is checked before any data is loaded.
    check_outputs(out_path, work_dir)
    check_model(config)
    err.print(plan_text(config) if budget is None else _search_plan(budget, config))
    data = load_data(data_dir)
    if val_size is not None or budget is not None:
        train_size = len(data.train_x[: config.train_subset])
        config = replace(config, val_size=resolve_val_size(val_size, train_size))
    problems = check_runnable(config, data.test_x[:2], require_runnable)
    if config.weights is not None:
        check_loaded_weights(config, data, allow_near_chance)
    err.print(f"[dim]checkpoints: {work_dir}[/dim]")
    reporter = console.ProgressReporter(hide_test=budget is not None)
    found = None
    if budget is None:
        result = run_pipeline(config, data, work_dir, reporter, restart=restart)
    else:
        from deepzip.search import search

        found = search(config, data, work_dir, budget, data.test_x[:2], reporter, restart)
        result = found.result
    written = write_result(result, out_path, data.test_x[:2])
    if write_html:
        from deepzip.report.html import write_report

        err.print(f"[dim]report: {write_report(out_path, work_dir=work_dir)}[/dim]")
    summary = {**console.stage_summary(result), "work_dir": str(work_dir), **written}
    summary["runnable"], summary["network_problems"] = not problems, problems
    summary["val_size"] = config.val_size
    if found is not None:
        summary["search"] = {**found.to_dict(), "figure": str(_search_figure(found, out_path))}
    if problems:
        err.print(_not_runnable_text(problems, out_path))
    if as_json:
        print_json(summary)
        return
    if found is not None:
        out.print(console.trials_table(found))
        out.print(
            f"chosen: trial {found.chosen.index}, validation error "
            f"{percent(found.chosen.val_error)} (baseline {percent(found.baseline_val_error)}); "
            f"Pareto plot: {summary['search']['figure']}"
        )
    out.print(console.stage_table(result.stages, f"deepzip compress: {model}"))
    out.print(console.layers_table(result))
    if note := console.capped_note(summary):
        out.print(note)
    out.print(
        f"{out_path}: {summary['file_bytes']:,} bytes, {summary['ratio']:.1f}× smaller than the "
        f"dense fp32 weights ({summary['dense_bytes']:,} bytes); see `deepzip inspect {out_path}`"
    )


def check_budget(
    max_loss: float | None,
    min_ratio: float | None,
    trials: int | None,
    sparsity: str | None,
    quality: float | None,
) -> SearchConfig | None:
    """The budget search's settings, or None for a plain run; a contradictory or impossible
    budget is a bad command line (exit 2) that names the option."""
    from deepzip.search import SearchConfig

    if max_loss is not None and min_ratio is not None:
        raise click.UsageError("give one budget: --max-loss or --min-ratio, not both")
    if max_loss is not None and not max_loss >= 0:
        raise click.BadParameter(
            f"{max_loss:g}: give the points of accuracy the file may lose, >= 0 (e.g. 0.5)",
            param_hint="--max-loss",
        )
    if min_ratio is not None and not min_ratio > 0:
        raise click.BadParameter(
            f"{min_ratio:g}: give how many times smaller the file must be, > 0 (e.g. 40)",
            param_hint="--min-ratio",
        )
    if max_loss is None and min_ratio is None:
        if trials is not None:
            raise click.UsageError("--search-trials needs a budget: --max-loss or --min-ratio")
        return None
    if sparsity is not None or quality is not None:
        given_option = "--sparsity" if sparsity is not None else "--quality"
        raise click.UsageError(
            f"{given_option} and a budget (--max-loss or --min-ratio) exclude each other: the "
            "search chooses the densities"
        )
    return SearchConfig(max_loss=max_loss, min_ratio=min_ratio, **given(density_trials=trials))


def _search_plan(budget: SearchConfig, config: CompressConfig) -> str:
    goal = (
        f"the smallest file within {budget.max_loss:g} points of the baseline's validation accuracy"
        if budget.max_loss is not None
        else f"the most accurate file at least {budget.min_ratio:g}× smaller"
    )
    bits = f" then up to {budget.bits_trials} of fewer weight bits" if budget.max_loss else ""
    plan = plan_text(config).removeprefix("plan: ")
    return (
        f"search: {goal}; baseline and sensitivity on the validation split, then "
        f"{budget.density_trials} trials bisecting the densities{bits}; each trial: {plan}"
    )


def _search_figure(found: Any, out_path: Path) -> Path:
    from deepzip.report.figures import search_result_figure

    return search_result_figure(found, out_path.with_name(f"{out_path.stem}-search.png"))


def check_runnable(config: CompressConfig, example_inputs: Any, required: bool) -> list[str]:
    """Capture the model's network on two inputs before any training: the ops the engine cannot
    run are a warning (each named with its module), or with ``--require-runnable`` an error."""
    from deepzip.network import network_problems
    from deepzip.pipeline import PipelineError, build

    problems = network_problems(build(config), example_inputs)
    if problems and required:
        raise PipelineError(
            "--require-runnable: the engine cannot run this model: " + "; ".join(problems)
        )
    if problems:
        err.print(_not_runnable_text(problems, None))
    return problems


def _not_runnable_text(problems: list[str], out_path: Path | None) -> str:
    where = "the file will hold" if out_path is None else f"{out_path} holds"
    lines = "\n".join(f"  - {problem}" for problem in problems)
    return (
        f"[bold yellow]warning:[/bold yellow] the engine and `deepzip run` cannot run this model; "
        f"{where} its layers and tensors (decompress works) but not a runnable network:\n{lines}"
        "\n(--require-runnable makes this an error)"
    )


def check_loaded_weights(config: CompressConfig, data: Any, allow_near_chance: bool) -> None:
    """Measure the loaded weights before anything changes them; stop when they score near
    chance, which almost always means the model was trained on other preprocessing."""
    from deepzip.metrics import chance_accuracy
    from deepzip.pipeline import PipelineError, as_task, build

    accuracy = as_task(config, data).evaluate(build(config))
    labels = data.test_y[: config.test_subset]
    chance = chance_accuracy(labels)
    err.print(
        f"loaded weights {config.weights}: accuracy {percent(accuracy)} on "
        f"{len(labels):,} test examples, before any change"
    )
    if accuracy < chance + 0.1 * (1 - chance) and not allow_near_chance:
        hint = (
            "the inputs are normalized with " + str(config.normalization())
            if config.normalization()
            else "the inputs are scaled to [0, 1]; a model trained on normalized inputs needs "
            "--normalize MEAN,STD (0.1307,0.3081 for the usual MNIST normalization)"
        )
        raise PipelineError(
            f"the weights in {config.weights} score {percent(accuracy)}, near chance "
            f"({percent(chance)}): the model most likely expects other inputs ({hint}). "
            "Compressing it would retrain it into other preprocessing; --allow-near-chance goes "
            "on anyway."
        )
