"""Markdown tables for RESULTS.md from the JSON of ``deepzip reproduce ... --json``.

    python benchmarks/results_tables.py results/lenet-300-100.json results/lenet-5.json

prints, per network, Table 1 side by side with the paper and the best published ratio (each
deepzip point as the mean test error and ratio over the training seeds, with their range), the
budget search's trials, then for each operating point its settings, its runs per seed, the
per-layer table of the first seed's file (Deep Compression Tables 2/3 columns), the bytes of every
part of that file and the validation error after every stage; then the sensitivity table.
Nothing here is typed by hand: RESULTS.md's tables are this script's output.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def spread(mean: float, low_high: list[float], fmt) -> str:
    low, high = low_high
    return f"{fmt(mean)} ({fmt(low)}–{fmt(high)})" if low != high else fmt(mean)


def ratio(x: float) -> str:
    return f"{x:.1f}×"


def network_section(summary: dict[str, Any]) -> str:
    paper, best = summary["paper"], summary["best_published"]
    seeds = len(summary["seeds"])
    rows = []
    if paper is not None:
        rows.append(
            [
                "Deep Compression (paper, Table 1)",
                pct(paper["baseline_error"]),
                pct(paper["error"]),
                f"{paper['compressed_kb']} KB of {paper['dense_kb']} KB",
                f"{paper['ratio']:.0f}×",
            ]
        )
    if best is not None:
        rows.append(
            [
                "Soft Weight-Sharing (best published)",
                "",
                pct(best["error"]),
                "",
                f"{best['ratio']}×",
            ]
        )
    for name, point in summary["points"].items():
        rows.append(
            [
                f"**deepzip, {name} point**",
                spread(summary["baseline_error"], summary["baseline_error_range"], pct),
                f"**{spread(point['error'], point['error_range'], pct)}**",
                f"{point['file_bytes']:,} B of {point['dense_bytes']:,} B",
                f"**{spread(point['ratio'], point['ratio_range'], ratio)}**",
            ]
        )
    header = [
        "",
        "baseline test error",
        f"test error (through the .dzip file; mean over {seeds} seeds, range)",
        "size (seed 0's file)",
        "ratio (mean, range)",
    ]
    # Keys added after the first seeded runs (train_size, dataset, seconds) are optional.
    trained = f"{summary['train_size']:,} " if "train_size" in summary else ""
    wall = f"; wall time {summary['seconds'] / 60:.0f} min" if "seconds" in summary else ""
    parts = [
        f"## {summary['model']}",
        f"Trained on {trained}{summary.get('dataset', 'mnist')} training images less the "
        f"validation split (the last {summary['val_size']:,}); seeds "
        f"{', '.join(str(s) for s in summary['seeds'])}{wall}.",
        table(header, rows),
    ]
    if "search" in summary:
        parts.append(search_section(summary["search"]))
    for name, point in summary["points"].items():
        parts.append(point_section(name, point))
    parts.append(sensitivity_section(summary["sensitivity"]))
    return "\n\n".join(parts)


def search_section(found: dict[str, Any]) -> str:
    budget = found["budget"]
    goal = (
        f"the most accurate file (validation error) at least {budget['min_ratio']:g}× smaller"
        if "min_ratio" in budget
        else f"the smallest file within {budget['max_loss']:g} points of the baseline's "
        "validation accuracy"
    )
    rows = []
    for t in found["trials"]:
        s = t["settings"]
        chosen = t["trial"] == found["chosen_trial"]
        mark = (lambda text: f"**{text}**") if chosen else (lambda text: text)
        rows.append(
            [
                mark(str(t["trial"])),
                t["phase"],
                f"{s['aggressiveness']:.4f}",
                ", ".join(f"{pct(1 - v)}" for v in s["sparsity"].values()),
                ", ".join(str(b) for b in s["bits"].values()),
                mark(pct(t["val_error"])),
                mark(ratio(t["ratio"])),
                f"{t['file_bytes']:,}",
                "yes" if t["meets_budget"] else "no",
                f"{t['seconds']:.0f} s",
            ]
        )
    header = [
        "trial",
        "phase",
        "aggressiveness",
        "kept per layer",
        "weight bits",
        "val error",
        "ratio",
        "bytes",
        "meets budget",
        "time",
    ]
    return "\n\n".join(
        [
            f"### The budget search (first seed): {goal}",
            f"Baseline validation error {pct(found['baseline_val_error'])}. Every trial retrains "
            "from the baseline and writes its file; the chosen one is in bold. Its settings are "
            "then retrained from the other seeds' baselines. Pareto plot: "
            f"`{found.get('figure')}`.",
            table(header, rows),
            *_exact_paragraph(found),
        ]
    )


def _exact_paragraph(found: dict[str, Any]) -> list[str]:
    """Which layers were stored exact, and why (searches run before this existed have no
    ``sharing_loss``)."""
    losses = found.get("sharing_loss")
    if not losses:
        return []
    exact = found.get("exact", [])
    others = {n: v for n, v in losses.items() if n not in exact}
    worst = max(others, key=others.__getitem__) if others else None
    text = (
        "Weight-sharing sensitivity of the chosen trial: each layer weight-shared alone on its "
        "pruned network, at its bits (validation split). "
    )
    if exact:
        text += (
            "Stored exact (every kept weight its own centroid), as sharing it alone lost more "
            "than the limit: " + ", ".join(f"`{n}` ({losses[n]:.2f} points)" for n in exact) + ". "
        )
    else:
        text += "No layer lost more than the limit: every layer is shared. "
    if worst is not None:
        text += f"The largest loss among the shared layers: `{worst}` ({losses[worst]:.2f} points)."
    return [text]


def layer_table(inspect: dict[str, Any]) -> str:
    """Deep Compression Tables 2/3's columns for one file (``deepzip inspect``'s table)."""
    rows = []
    for row in [*inspect["layers"], inspect["total"]]:
        rows.append(
            [
                row["name"],
                f"{row['weights']:,}",
                pct(row["kept"]),
                f"{row['weight_bits_pq']:.1f}",
                f"{row['weight_bits_pqh']:.2f}",
                f"{row['index_bits_pq']:.1f}",
                f"{row['index_bits_pqh']:.2f}",
                f"{pct(row['rate_pq'])} ({1 / row['rate_pq']:.0f}×)",
                f"{pct(row['rate_pqh'])} ({1 / row['rate_pqh']:.0f}×)",
                f"{row['bytes_pqh']:,}",
            ]
        )
    return table(
        [
            "layer",
            "#weights",
            "kept",
            "weight bits P+Q",
            "P+Q+H",
            "index bits P+Q",
            "P+Q+H",
            "compress rate P+Q",
            "P+Q+H",
            "bytes",
        ],
        rows,
    )


def point_section(name: str, point: dict[str, Any]) -> str:
    s = point["settings"]
    kept = ", ".join(f"{layer} {pct(1 - v)}" for layer, v in s["sparsity"].items())
    bits = ", ".join(f"{layer} {b}" for layer, b in s["bits"].items()) or "as below"
    if s.get("auto_index_bits"):
        index = "per layer, the width that makes its record smallest"
    else:
        index = f"{s['index_bits']}" + (
            " (" + ", ".join(f"{k} {v}" for k, v in s["layer_index_bits"].items()) + ")"
            if s.get("layer_index_bits")
            else ""
        )
    final = s.get("final_retrain_epochs")
    schedule = (
        f"{s['steps']} prune rounds × {s['retrain_epochs']} epochs at {s['retrain_lr_factor']} of "
        f"the rate" + (f", {final} epochs after the last" if final is not None else "")
    )
    finetune = (
        f"{s['finetune_epochs']} fine-tuning epochs at {s.get('finetune_lr_factor', 0.01)} of the "
        "rate, kept only if the validation error does not rise"
        if s["finetune_epochs"]
        else "no fine-tuning"
    )
    storage = (
        f"k-means {'relocating' if s.get('relocate_empty', True) else 'leaving'} empty clusters, "
        f"{s.get('value_bits', 32)}-bit codebooks and biases, hidden units "
        f"{'sorted' if s.get('sort_units') else 'in model order'}"
    )
    settings = (
        f"Settings: kept {kept}; weight bits {bits}; index bits {index}; {schedule}; {finetune}; "
        f"{storage}."
    )
    runs = table(
        ["seed", "test error (engine, file)", "PyTorch model", "bytes", "ratio"],
        [
            [
                str(r["seed"]),
                pct(r["error"]),
                pct(r["torch_error"]),
                f"{r['file_bytes']:,}",
                ratio(r["ratio"]),
            ]
            for r in point["runs"]
        ],
    )
    inspect = point["inspect"]
    layers = layer_table(inspect)
    bytes_line = (
        f"Seed {point['seeds'][0]}'s file, `{point['file']}`. Bytes per part: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(inspect["parts"].items()))
        + f"; total {inspect['file_bytes']:,} (the file's size)."
    )
    stages = ", ".join(
        f"{st['stage']} {pct(st['val_error'])}"
        for st in point["stages"]
        if st.get("val_error") is not None
    )
    minutes = sum(st["seconds"] for st in point["stages"]) / 60
    stage_line = (
        f"Validation error after each stage (seed {point['seeds'][0]}): {stages}. Training time "
        f"of this point's stages: {minutes:.1f} min."
    )
    return "\n\n".join([f"### {name} point", settings, runs, layers, bytes_line, stage_line])


def sensitivity_section(sens: dict[str, Any]) -> str:
    layers = list(sens["accuracy"])
    rows = [
        [f"{100 * r:g}%", *(pct(sens["accuracy"][layer][i]) for layer in layers)]
        for i, r in enumerate(sens["ratios"])
    ]
    if len(layers) > 8:  # a compact network: each layer's loss at a few ratios, transposed
        picks = [i for i, r in enumerate(sens["ratios"]) if r in (0.5, 0.8, 0.9, 0.95)]
        rows = [[layer, *(pct(sens["accuracy"][layer][i]) for i in picks)] for layer in layers]
        header = ["layer", *(f"{100 * sens['ratios'][i]:g}% pruned" for i in picks)]
    else:
        header = ["pruned", *layers]
    return (
        "Sensitivity (accuracy on the validation split, first seed's baseline, one layer pruned "
        "at a time, no retraining):\n\n" + table(header, rows)
    )


METRICS = {"accuracy": "accuracy", "mean_iou": "mean IoU", "map": "mAP (IoU 0.5)"}


def compact_summary(summaries: list[dict[str, Any]], latency: dict[str, Any] | None) -> str:
    """One row per compact network: sizes, the ratio after each stage (P: one over the kept
    fraction, the weights alone; P+Q and P+Q+H: the weights and indices, from the inspect
    table's total; file: everything counted), metrics, batch-1 latency and training time."""
    timings = {n["model"]: n for n in (latency or {}).get("networks", [])}
    rows = []
    for summary in summaries:
        point = summary["points"].get("search") or next(iter(summary["points"].values()))
        total = point["inspect"]["total"]
        timing = timings.get(summary["model"])
        low, high = (100 * (1 - e) for e in reversed(point["error_range"]))
        latency_ms = (
            "—"
            if timing is None
            else " / ".join(f"{timing['median_ms'][m]:.2f}" for m in ("engine", "torch dense"))
            + " ms"
        )
        rows.append(
            [
                summary["model"],
                summary.get("dataset", "mnist"),
                f"{total['weights']:,}",
                f"{point['dense_bytes']:,}",
                f"{point['file_bytes']:,}",
                ratio(1 / total["kept"]),
                ratio(1 / total["rate_pq"]),
                ratio(1 / total["rate_pqh"]),
                f"**{spread(point['ratio'], point['ratio_range'], ratio)}**",
                METRICS.get(summary.get("metric_name", "accuracy"), summary.get("metric_name")),
                f"{100 * summary['baseline_metric']:.2f}",
                f"**{100 * (1 - point['error']):.2f}**"
                + (f" ({low:.2f}–{high:.2f})" if low != high else ""),
                f"{100 * (summary['baseline_metric'] - (1 - point['error'])):+.2f}",
                latency_ms,
                f"{summary['seconds'] / 60:.0f} min" if "seconds" in summary else "—",
            ]
        )
    header = [
        "network",
        "data",
        "weights",
        "dense bytes",
        "file bytes",
        "P",
        "P+Q",
        "P+Q+H",
        "file ratio (mean, range)",
        "metric",
        "baseline",
        "compressed (range)",
        "loss (points)",
        "batch-1 latency engine / torch dense",
        "run time",
    ]
    return table(header, rows)


def published_section(published: dict[str, Any]) -> str:
    """The published-size networks from seeded random weights (benchmarks/published_sizes.py)."""
    rows = [
        [
            n["model"],
            "×".join(str(d) for d in n["input_shape"][1:]),
            f"{n['parameters']:,}",
            f"{n['dense_bytes']:,}",
            f"{n['file_bytes']:,}",
            ratio(n["ratio"]),
            f"{n['engine_ms']:.0f} / {n['torch_ms']:.0f} ms",
            f"{n['output_difference']:.1e}",
        ]
        for n in published["networks"]
    ]
    header = [
        "network",
        "input",
        "parameters",
        "dense bytes",
        "file bytes",
        "ratio",
        "engine / torch, batch 1",
        "engine vs PyTorch output",
    ]
    parts = [table(header, rows)]
    for n in published["networks"]:
        parts.append(
            f"<details><summary>{n['model']}: <code>deepzip inspect</code> table</summary>\n\n"
            + layer_table(n["inspect"])
            + "\n\n</details>"
        )
    return "\n\n".join(parts)


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="RESULTS.md tables from reproduce JSON")
    parser.add_argument("summaries", nargs="*", help="deepzip reproduce --json outputs")
    parser.add_argument("--compact", nargs="*", default=[], help="compact networks' JSON")
    parser.add_argument("--latency", help="benchmarks/compact_latency.py's JSON")
    parser.add_argument("--published", help="benchmarks/published_sizes.py's JSON")
    args = parser.parse_args(argv)

    def load(path: str) -> dict[str, Any]:
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    if args.compact:
        latency = load(args.latency) if args.latency else None
        print(compact_summary([load(p) for p in args.compact], latency))
        print()
    if args.published:
        print(published_section(load(args.published)))
        print()
    for path in args.summaries:
        print(network_section(load(path)))
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
