"""Markdown tables for BENCHMARKS.md's engine section, from the engine benchmarks' JSON.

    python benchmarks/engine_tables.py [RESULTS_DIR]

reads ``engine.json`` (``engine_bench.py``), ``engine_sweep.json`` (``engine_sweep.py``) and
``engine_load.json`` (``engine_load.py``) from ``benchmarks/results/`` (or RESULTS_DIR), whichever
exist, and prints the tables: nothing in the section is typed by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from results_tables import table

BATCH1 = (
    "engine",
    "CSC kernel",
    "engine 1 thread",
    "CSC kernel 1 thread",
    "numpy dense",
    "torch dense",
    "scipy CSR",
    "scipy CSC active",
    "torch CSR",
)
BATCH64 = ("engine", "CSC kernel", "numpy dense", "torch dense", "torch CSR")
LABELS = {"scipy CSC active": "scipy CSC active (slice untimed)"}


def _verdict(met: bool) -> str:
    return "met" if met else "**not met**"


def _head(methods: tuple[str, ...], threads: dict[str, int]) -> list[str]:
    return [""] + [f"{LABELS.get(m, m).replace(' 1 thread', '')} ({threads[m]}T)" for m in methods]


def engine_section(r: dict) -> str:
    threads = r["method_threads"]
    out = []
    for title, key, field, methods in (
        ("Stacks, batch 1, median µs", "stacks", "batch1_us", BATCH1),
        ("Stacks, batch 1, fastest call µs", "stacks", "batch1_us_min", BATCH1),
        ("Stacks, batch 64, median µs per input", "stacks", "batch64_us_per_input", BATCH64),
        ("Layers alone (in cache), batch 1, median µs", "layers", "batch1_us", BATCH1),
        ("Layers alone, batch 64, median µs per input", "layers", "batch64_us_per_input", BATCH64),
    ):
        name = "stack" if key == "stacks" else "layer"
        rows = [
            [row[name]] + [f"{row[field][m]:.0f}" if m in row[field] else "n/a" for m in methods]
            for row in r[key]
        ]
        out.append(f"**{title}** (T = threads)\n\n" + table(_head(methods, threads), rows))
    rows = [
        [
            s["stack"],
            f"{s['speedup_vs_dense']:.2f}× ({s['fastest_dense']})",
            f"{s['speedup_vs_sparse']:.2f}× ({s['fastest_sparse']})",
            f"{s['speedup_vs_realizable_sparse']:.2f}× ({s['fastest_realizable_sparse']})",
            f"{s['format_gain']:.2f}× / {s['format_gain_1_thread']:.2f}×",
            "n/a" if s["kernel_gain_1_thread"] is None else f"{s['kernel_gain_1_thread']:.2f}×",
            "n/a"
            if s["oracle_vs_kernel_1_thread"] is None
            else f"{s['oracle_vs_kernel_1_thread']:.2f}×",
            f"{s['speedup_batch64_vs_torch']:.2f}×",
            f"{s['speedup_batch64_vs_sparse']:.2f}× ({s['fastest_sparse64']})",
        ]
        for s in r["stacks"]
    ]
    out.append(
        "**Engine speedups per stack**\n\n"
        + table(
            [
                "",
                "b1 vs dense",
                "b1 vs fastest sparse",
                "b1 vs fastest realizable sparse",
                "format: CSC kernel / engine (2T / 1T)",
                "kernel: scipy CSR / CSC kernel (1T)",
                "CSC kernel / pre-sliced scipy oracle (1T)",
                "b64 vs torch dense",
                "b64 vs best sparse × dense",
            ],
            rows,
        )
    )
    rows = [
        [
            layer["layer"],
            f"{layer['nnz']:,}",
            f"{layer['engine_entries']:,}",
            f"{layer['engine_fillers'] / layer['engine_entries']:.0%}",
            f"{layer['resident_bytes'] / 1e3:,.0f}",
            f"{layer['bytes_per_nonzero']:.2f}",
            f"{layer['bytes_per_entry']:.2f}",
            f"{layer['csc_kernel_bytes_per_nonzero']:.2f}",
        ]
        for layer in r["layers"]
    ]
    out.append(
        "**Engine memory per layer** (2 PEs, 4-bit codes and indices)\n\n"
        + table(
            [
                "",
                "non-zeros",
                "entries",
                "fillers",
                "resident kB",
                "B / non-zero",
                "B / entry",
                "CSC kernel B / non-zero",
            ],
            rows,
        )
    )
    names = {
        "batch1_vs_dense": "batch 1 ≥ 10× the faster dense (geomean)",
        "batch1_vs_sparse": "batch 1 ≥ 3× the fastest sparse (geomean)",
        "batch1_neuraltalk_vs_sparse": "batch 1 NeuralTalk ≥ 1.5× the fastest sparse",
        "batch1_vs_realizable_sparse": "(same, without the scipy oracle) ≥ 3×",
        "batch1_neuraltalk_vs_realizable_sparse": "(same, NeuralTalk) ≥ 1.5×",
        "batch64_vs_torch_dense": "batch 64 ≥ 5× torch dense per input (geomean)",
        "batch64_vs_sparse_dense": "batch 64 ≥ 2× the best sparse × dense (geomean)",
        "memory_bytes_per_nonzero": "memory ≤ 1.25 B per stored non-zero, every layer",
    }
    rows = []
    fastest = r["targets_fastest_call"]
    for key, t in r["targets"].items():
        value = t.get("geomean", t.get("value", t.get("worst")))
        unit = " B (worst)" if key.startswith("memory") else "×"
        extra = f"; over: {', '.join(t['layers_over'])}" if t.get("layers_over") else ""
        if key in fastest:
            f = fastest[key]
            best = f"{f.get('geomean', f.get('value')):.2f}× ({_verdict(f['met'])})"
        else:
            best = ""
        rows.append([names.get(key, key), f"{value:.2f}{unit}{extra}", _verdict(t["met"]), best])
    fv = r["format_vs_kernel"]
    out.append(
        "**Targets (issue 12)**\n\n" + table(["target", "median", "", "fastest calls"], rows)
    )
    out.append(
        f"Geometric means over the stacks: format gain (CSC kernel / engine) "
        f"{fv['format_gain']:.2f}× at {r['machine']['threads']} threads, "
        f"{fv['format_gain_1_thread']:.2f}× on 1 thread; kernel gain (scipy CSR / CSC kernel, "
        f"1 thread) {fv['kernel_gain_1_thread']:.2f}×; CSC kernel / pre-sliced scipy oracle "
        f"{fv['oracle_vs_kernel_1_thread']:.2f}×."
    )
    return "\n\n".join(out)


def sweep_section(r: dict) -> str:
    rows = [
        [
            p["point"],
            f"{p['nnz']:,}",
            f"{p['batch1_us']['engine']:.0f}",
            f"{p['batch1_us']['CSC kernel']:.0f}",
            f"{p['batch1_vs_csc']:.2f}×",
            f"{p['batch1_vs_csc_1_thread']:.2f}×",
            f"{p['batch64_us_per_input']['engine']:.1f}",
            f"{p['batch64_us_per_input']['torch dense']:.1f}",
            f"{p['batch64_vs_torch_dense']:.2f}×",
        ]
        for p in r["points"]
    ]
    t = r["targets"]
    threads = r["machine"]["threads"]
    summary = [
        [
            "batch 1 never slower than the CSC kernel",
            f"worst {t['batch1_vs_csc_never_slower']['worst']:.2f}× at "
            f"{t['batch1_vs_csc_never_slower']['worst_point']}; slower at "
            f"{t['batch1_vs_csc_never_slower']['slower_points']} of {len(r['points'])}",
            _verdict(t["batch1_vs_csc_never_slower"]["met"]),
        ],
        [
            "batch 1 ≥ 2× the CSC kernel (geomean)",
            f"{t['batch1_vs_csc_geomean']['geomean']:.2f}× (1 thread: "
            f"{t['batch1_vs_csc_1_thread_geomean']['geomean']:.2f}×)",
            _verdict(t["batch1_vs_csc_geomean"]["met"]),
        ],
        [
            "batch 64 never slower than torch dense (weight density ≤ 15%)",
            f"worst {t['batch64_vs_torch_never_slower_up_to_15pct']['worst']:.2f}× at "
            f"{t['batch64_vs_torch_never_slower_up_to_15pct']['worst_point']}",
            _verdict(t["batch64_vs_torch_never_slower_up_to_15pct"]["met"]),
        ],
        [
            "batch 64 ≥ 2× torch dense (geomean)",
            f"{t['batch64_vs_torch_geomean']['geomean']:.2f}×",
            _verdict(t["batch64_vs_torch_geomean"]["met"]),
        ],
    ]
    return (
        table(
            [
                "rows×cols, weight / activation density",
                "non-zeros",
                f"engine µs ({threads}T)",
                f"CSC µs ({threads}T)",
                "CSC / engine",
                "same, 1T",
                "engine µs/input b64",
                "torch dense µs/input",
                "torch / engine",
            ],
            rows,
        )
        + "\n\n"
        + table(["sweep target", "result", ""], summary)
    )


def load_section(r: dict) -> str:
    m, med, t = r["model"], r["median"], r["targets"]
    mb = 1e6
    return table(
        ["", "figure"],
        [
            ["weights / kept", f"{m['weights']:,} / {m['kept']:,} ({m['density']:.1%})"],
            ["file", f"{m['file_bytes'] / mb:.1f} MB (written in {m['write_s']:.1f} s)"],
            [
                "file → engine layers (median)",
                f"{med['seconds']:.2f} s (read {med['read_s']:.2f} s, layouts "
                f"{med['build_s']:.2f} s) — {_verdict(t['seconds']['met'])} (≤ 1 s)",
            ],
            [
                "peak RSS",
                f"{med['peak_rss_bytes'] / mb:.0f} MB (after imports "
                f"{med['rss_after_imports_bytes'] / mb:.0f} MB) vs bound "
                f"{t['peak_rss']['bound_bytes'] / mb:.0f} MB — {_verdict(t['peak_rss']['met'])}",
            ],
            ["engine bytes", f"{med['engine_bytes'] / mb:.1f} MB"],
        ],
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0]) if argv else Path(__file__).resolve().parent / "results"
    for name, section in (
        ("engine.json", engine_section),
        ("engine_sweep.json", sweep_section),
        ("engine_load.json", load_section),
    ):
        path = folder / name
        if path.exists():
            print(f"<!-- {name} -->\n\n{section(json.loads(path.read_text()))}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
