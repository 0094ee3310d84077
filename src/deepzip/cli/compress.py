"""The ``compress`` command: prune, retrain, quantize and fine-tune a model, with a checkpoint
after every stage, and write it as a .dzip file (Deep Compression §2–§4).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from deepzip.cli import console
from deepzip.cli.console import err, out, print_json
from deepzip.cli.options import (
    data_option,
    fail_cleanly,
    given,
    json_option,
    limit_options,
    load_data,
    model_option,
    parse_sparsity,
    seed_option,
    weights_option,
)


@click.command()
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
    as_json: bool,
    seed: int,
    train_limit: int | None,
    test_limit: int | None,
) -> None:
    """Prune, retrain, quantize and fine-tune a model, with a checkpoint after every stage."""
    from deepzip.config import from_json
    from deepzip.pipeline import CompressConfig, run_pipeline, write_result

    config = from_json(CompressConfig, config_file.read_text()) if config_file else CompressConfig()
    config = replace(config, model=model, weights=str(weights) if weights else config.weights)
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
    data = load_data(data_dir)
    err.print(f"[dim]checkpoints: {work_dir}[/dim]")
    result = run_pipeline(config, data, work_dir, console.ProgressReporter(), restart=restart)
    summary = {
        **console.stage_summary(result),
        "work_dir": str(work_dir),
        **write_result(result, out_path),
    }
    if as_json:
        print_json(summary)
        return
    out.print(console.stage_table(result.stages, f"deepzip compress: {model}"))
    out.print(console.layers_table(result))
    out.print(
        f"{out_path}: {summary['file_bytes']:,} bytes, {summary['ratio']:.1f}× smaller than the "
        f"dense fp32 weights ({summary['dense_bytes']:,} bytes); see `deepzip inspect {out_path}`"
    )
