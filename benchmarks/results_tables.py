"""Markdown tables for RESULTS.md from the JSON of ``deepzip reproduce ... --json``.

    python benchmarks/results_tables.py results/lenet-300-100.json results/lenet-5.json

prints, per network, Table 1 side by side with the paper and the best published ratio, then for
each operating point its settings, the per-layer table (Deep Compression Tables 2/3 columns), the
bytes of every part of the file and the error after every stage; then the sensitivity table.
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


def ordered_points(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The paper point first (the JSON's keys come sorted)."""
    return sorted(summary["points"].items(), key=lambda item: item[0] != "paper")


def network_section(summary: dict[str, Any]) -> str:
    paper, best = summary["paper"], summary["best_published"]
    rows = [
        [
            "Deep Compression (paper, Table 1)",
            pct(paper["baseline_error"]),
            pct(paper["error"]),
            f"{paper['compressed_kb']} KB of {paper['dense_kb']} KB",
            f"{paper['ratio']:.0f}×",
        ],
        ["Soft Weight-Sharing (best published)", "", pct(best["error"]), "", f"{best['ratio']}×"],
    ]
    for name, point in ordered_points(summary):
        rows.append(
            [
                f"**deepzip, {name} point**",
                pct(summary["baseline_error"]),
                f"**{pct(point['error'])}**",
                f"{point['file_bytes']:,} B of {point['dense_bytes']:,} B",
                f"**{point['ratio']:.1f}×**",
            ]
        )
    parts = [
        f"## {summary['model']}",
        table(["", "baseline error", "error (through the .dzip file)", "size", "ratio"], rows),
    ]
    for name, point in ordered_points(summary):
        parts.append(point_section(name, point))
    parts.append(sensitivity_section(summary["sensitivity"]))
    return "\n\n".join(parts)


def point_section(name: str, point: dict[str, Any]) -> str:
    s = point["settings"]
    kept = ", ".join(f"{layer} {pct(1 - v)}" for layer, v in s["sparsity"].items())
    bits = ", ".join(f"{layer} {b}" for layer, b in s["bits"].items())
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
        "rate"
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
    inspect = point["inspect"]
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
    layers = table(
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
    bytes_line = (
        "Bytes per part: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(inspect["parts"].items()))
        + f"; total {inspect['file_bytes']:,} (the file's size)."
    )
    stages = ", ".join(f"{st['stage']} {pct(st['error'])}" for st in point["stages"])
    minutes = sum(st["seconds"] for st in point["stages"]) / 60
    stage_line = (
        f"Stages (test error after each): {stages}; engine on the file: {pct(point['error'])} "
        f"(PyTorch model: {pct(point['torch_error'])}). Training time of this point's stages: "
        f"{minutes:.1f} min."
    )
    return "\n\n".join([f"### {name} point", settings, layers, bytes_line, stage_line])


def sensitivity_section(sens: dict[str, Any]) -> str:
    layers = list(sens["accuracy"])
    rows = [
        [f"{100 * r:.0f}%", *(pct(sens["accuracy"][layer][i]) for layer in layers)]
        for i, r in enumerate(sens["ratios"])
    ]
    return (
        "Sensitivity (accuracy on 2,000 test images, one layer pruned at a time, no "
        "retraining):\n\n" + table(["pruned", *layers], rows)
    )


def main(paths: list[str]) -> None:
    for path in paths:
        with open(path, encoding="utf-8") as f:
            print(network_section(json.load(f)))
            print()


if __name__ == "__main__":
    main(sys.argv[1:])
