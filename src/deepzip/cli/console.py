"""Printing for the command line: progress bars and tables on stderr, results on stdout.

Everything a person watches (progress, stage lines) goes to stderr, so that ``--json`` output on
stdout stays machine-readable.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from deepzip.pipeline import Reporter, StageResult

# Lines to a log (no terminal) are not wrapped: a message split at 80 columns is hard to grep.
err = Console(stderr=True, highlight=False, soft_wrap=not sys.stderr.isatty())
# Tables are wide (Deep Compression's have ten columns): when stdout is a file or a pipe, where
# rich would assume 80 columns and squash them, give them room.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 140)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()


def percent(x: float) -> str:
    return f"{100 * x:.2f}%"


class ProgressReporter(Reporter):
    """Draws one progress bar per training stage and a line per finished stage, on stderr.

    Without a terminal (CI, ``| tee``, nohup) there is no bar to draw: a running stage prints a
    plain line every ``interval`` seconds instead, so a long stage is never silent.
    """

    def __init__(
        self,
        console: Console | None = None,
        interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        hide_test: bool = False,
    ) -> None:
        """``hide_test``: stage lines leave the test error out (a budget search chooses on the
        validation split; showing every trial's test error would invite choosing on it)."""
        self._console = console or err
        self._hide_test = hide_test
        self._interval = interval
        self._clock = clock
        self._progress: Progress | None = None
        self._task: Any = None
        self._stage = ""
        self._resumed = False
        self._started = 0.0
        self._last_line = 0.0

    def message(self, text: str) -> None:
        self._console.print(f"[bold]{text}[/bold]")

    def stage_start(self, stage: str, resumed: bool) -> None:
        self._stage = stage
        self._resumed = resumed
        self._started = self._last_line = self._clock()
        if resumed or not self._console.is_terminal:
            return
        self._progress = Progress(
            TextColumn(f"[bold]{stage:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=self._console,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(stage, total=None)

    def step(self, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=done, total=total)
            return
        now = self._clock()
        if now - self._last_line >= self._interval:
            self._last_line = now
            elapsed = now - self._started
            left = elapsed * (total - done) / done if done else 0.0
            self._console.print(
                f"{self._stage:<10} step {done:,}/{total:,} ({100 * done / total:.0f}%), "
                f"{elapsed:.0f} s so far, about {left:.0f} s left",
                soft_wrap=True,
            )

    def stage_end(self, result: StageResult) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        note = "resumed from checkpoint" if self._resumed else f"{result.seconds:6.1f} s"
        val = "" if result.val_error is None else f"val error {percent(result.val_error):>7}   "
        test = "" if self._hide_test else f"error {percent(result.error):>7}   "
        self._console.print(
            f"{result.stage:<10} {test}{val}"
            f"weights kept {percent(result.weights_kept):>7}   ({note})"
        )

    def trial_end(self, trial: Any, resumed: bool) -> None:
        note = "recorded in search.json" if resumed else f"{trial.seconds:6.1f} s"
        verdict = "within budget" if trial.meets_budget else "misses budget"
        self._console.print(
            f"[bold]trial {trial.index:>2} {trial.phase:<7}[/bold] ratio {trial.ratio:7.1f}×   "
            f"val error {percent(trial.val_error):>7}   {trial.file_bytes:>10,} bytes   "
            f"{verdict}   ({note})"
        )


def trials_table(found: Any) -> Table:
    """Every trial of a budget search (``deepzip.search.SearchResult``), the chosen one marked."""
    table = Table(title="budget search: trials (validation error, real file bytes)")
    for col in ("trial", "phase", "kept", "bits", "val error", "bytes", "ratio", "budget"):
        table.add_column(col, justify="left" if col in ("phase", "kept", "bits") else "right")
    for t in found.trials:
        mark = " ←" if t.index == found.chosen.index else ""
        table.add_row(
            f"{t.index}{mark}",
            t.phase,
            " ".join(f"{1 - s:.1%}" for s in t.sparsity.values()),
            ",".join(str(b) for b in t.bits.values()),
            percent(t.val_error),
            f"{t.file_bytes:,}",
            f"{t.ratio:.1f}×",
            "yes" if t.meets_budget else "no",
        )
    return table


def stage_table(results: list[StageResult], title: str) -> Table:
    validated = any(r.val_error is not None for r in results)
    table = Table(title=title)
    table.add_column("stage")
    table.add_column("test error", justify="right")
    table.add_column("accuracy", justify="right")
    if validated:
        table.add_column("val error", justify="right")
    table.add_column("weights kept", justify="right")
    table.add_column("seconds", justify="right")
    for r in results:
        val = [] if not validated else ["" if r.val_error is None else percent(r.val_error)]
        table.add_row(
            r.stage,
            percent(r.error),
            percent(1 - r.error),
            *val,
            percent(r.weights_kept),
            f"{r.seconds:.1f}",
        )
    return table


def stage_summary(result: Any) -> dict[str, Any]:
    """The JSON of a pipeline run: errors after each stage, per-stage results, per-layer summary,
    and the layers whose bits were capped by their number of kept weights."""
    from deepzip.share import capped_layers

    capped = capped_layers(result.model, result.config.quantize)
    return {
        "capped_layers": {name: {"asked_bits": a, "bits": b} for name, (a, b) in capped.items()},
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


def layers_table(result: Any) -> Table:
    """The compressed layers of a pipeline run: shape, weights, kept, bits, clusters."""
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
    return table


def capped_note(summary: dict[str, Any]) -> str | None:
    """One line naming the layers that got fewer bits than asked, or None."""
    capped = summary.get("capped_layers") or {}
    if not capped:
        return None
    parts = [f"{name} {c['asked_bits']}→{c['bits']} bits" for name, c in capped.items()]
    return (
        "weight bits capped at about one cluster per 4 kept weights (more clusters would share "
        "nothing and cost more codebook than they save): " + ", ".join(parts)
    )
