"""What the report knows about how a .dzip file was made, beyond the file itself.

Two sources, both optional:

- a work directory: ``deepzip compress`` writes one pipeline run there (``config.json`` and a
  checkpoint per stage: ``baseline.pt``, ``prune-<i>.pt``, ``quantize.pt``, ``finetune.pt``);
  ``deepzip reproduce`` writes ``baseline.safetensors`` and ``sensitivity.json`` and one pipeline
  run per operating point in a subfolder (``paper/``, ``beyond/``). The checkpoints give the error
  and density after each stage, the weights before pruning (the baseline) and the pruned weights
  before quantization (the last pruning round); the sensitivity analysis gives its curves
  (Han et al. 2015, Fig. 6).
- a JSON result: ``deepzip reproduce --json`` (per-point ``file``, ``error``, ``stages`` and the
  network's ``sensitivity``) or ``deepzip compress --json`` (``stages``, ``finetuned_error``).

``run_record`` merges them into one ``RunRecord``; a JSON result's error, measured by running the
file itself with the engine, is preferred over a checkpoint's.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class RunRecord:
    """How a file was made, as far as the sources tell (empty fields: unknown).

    Attributes:
        sources: where each part came from, for the reader (``"work directory runs/x"``, ...).
        error: the test error of the compressed model, or None.
        error_source: what ``error`` measures.
        stages: ``{"stage", "error", "weights_kept", "seconds"}`` per pipeline stage, in order.
        sensitivity: ``{"baseline", "ratios", "accuracy": {layer: [...]}}`` or None.
        baseline_weights: per layer name, the dense weight before pruning.
        pruned_weights: per layer name, the weight after pruning and before quantization
            (pruned entries 0).
        settings: the operating point's or the run's settings, or None.
    """

    sources: tuple[str, ...] = ()
    error: float | None = None
    error_source: str = ""
    stages: tuple[dict[str, Any], ...] = ()
    sensitivity: dict[str, Any] | None = None
    baseline_weights: dict[str, np.ndarray] = field(default_factory=dict)
    pruned_weights: dict[str, np.ndarray] = field(default_factory=dict)
    settings: dict[str, Any] | None = None


def _same_file(named: str, dzip_path: Path) -> bool:
    return Path(named).name == dzip_path.name


def result_record(result_json: str | os.PathLike, dzip_path: str | os.PathLike) -> RunRecord:
    """What a ``reproduce --json`` or ``compress --json`` result says about ``dzip_path``.

    Raises:
        ValueError: the file is not JSON or has none of the expected keys.
        OSError: it cannot be read.
    """
    path, dzip_path = Path(result_json), Path(dzip_path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a JSON result ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    sensitivity = data.get("sensitivity")
    points = data.get("points")
    if isinstance(points, dict):  # deepzip reproduce
        matches = [
            (n, p) for n, p in points.items() if _same_file(str(p.get("file", "")), dzip_path)
        ]
        if not matches:
            files = ", ".join(str(p.get("file")) for p in points.values())
            raise ValueError(f"{path} has no result for {dzip_path.name} (it has {files})")
        name, point = matches[0]
        # A seeded run's point "error" is the mean over its seeds; this file's own is
        # "file_error" (the first seed's, whose file the point names).
        return RunRecord(
            sources=(f"{path} (operating point {name!r})",),
            error=point.get("file_error", point.get("error")),
            error_source="test error of the file, run by the engine",
            stages=tuple(point.get("stages", ())),
            sensitivity=sensitivity,
            settings=point.get("settings"),
        )
    if "stages" in data or "finetuned_error" in data:  # deepzip compress / demo
        return RunRecord(
            sources=(str(path),),
            error=data.get("finetuned_error"),
            error_source="test error after the last stage (PyTorch)",
            stages=tuple(data.get("stages", ())),
            sensitivity=sensitivity,
        )
    raise ValueError(f"{path}: neither a reproduce nor a compress result (no points or stages)")


def _stage_order(path: Path) -> tuple[int, int]:
    stem = path.stem
    if stem.startswith("prune-") and stem[6:].isdigit():
        return 1, int(stem[6:])
    return {"baseline": (0, 0), "quantize": (2, 0), "finetune": (3, 0)}.get(stem, (-1, 0))


def _checkpoints(run: Path) -> list[Path]:
    found = [p for p in run.glob("*.pt") if _stage_order(p)[0] >= 0]
    return sorted(found, key=_stage_order)


def _pipeline_run(work: Path, dzip_path: Path) -> Path:
    """The folder of the pipeline run that made ``dzip_path``: ``work`` itself (compress) or the
    operating point's subfolder (reproduce writes ``<stem>.dzip`` for ``paper`` and
    ``<stem>-<point>.dzip`` for the others)."""
    if (work / "config.json").is_file():
        return work
    runs = sorted(p.parent for p in work.glob("*/config.json"))
    if not runs:
        raise ValueError(f"{work} holds no pipeline run (no config.json in it or a subfolder)")
    for run in runs:
        if dzip_path.stem.endswith(f"-{run.name}"):
            return run
    for run in runs:
        if run.name == "paper":
            return run
    if len(runs) == 1:
        return runs[0]
    names = ", ".join(r.name for r in runs)
    raise ValueError(f"{work} holds several runs ({names}); none is named after {dzip_path.name}")


def _weight(state: dict, layer: str) -> np.ndarray | None:
    """A layer's weight from a state_dict, plain or under a pruning parametrization."""
    plain = state.get(f"{layer}.weight")
    if plain is not None:
        return plain.detach().float().numpy()
    original = state.get(f"{layer}.parametrizations.weight.original")
    if original is None:
        return None
    weight = original.detach().float().numpy()
    mask = state.get(f"{layer}.parametrizations.weight.0.mask")
    return weight if mask is None else weight * mask.detach().numpy()


def work_dir_record(
    work_dir: str | os.PathLike, dzip_path: str | os.PathLike, layers: list[str]
) -> RunRecord:
    """What a ``compress`` or ``reproduce`` work directory holds about ``dzip_path``'s run, for
    the compressed ``layers``.

    Raises:
        ValueError: no pipeline run is found; PipelineError: a checkpoint is unreadable.
    """
    from deepzip.pipeline import load_state_dict, read_checkpoint

    work, dzip_path = Path(work_dir), Path(dzip_path)
    if not work.is_dir():
        raise ValueError(f"work directory {work} does not exist")
    run = _pipeline_run(work, dzip_path)
    checkpoints = _checkpoints(run)
    if not checkpoints:
        raise ValueError(f"{run} holds no stage checkpoint")
    last = read_checkpoint(checkpoints[-1])
    baseline_state: dict = {}
    if (work / "baseline.safetensors").is_file():  # reproduce: the shared baseline
        baseline_state = load_state_dict(work / "baseline.safetensors")
    elif (run / "baseline.pt").is_file():
        baseline_state = read_checkpoint(run / "baseline.pt").state_dict
    prunes = [p for p in checkpoints if p.stem.startswith("prune-")]
    pruned_state = read_checkpoint(prunes[-1]).state_dict if prunes else {}
    baseline = {n: w for n in layers if (w := _weight(baseline_state, n)) is not None}
    pruned = {n: w for n in layers if (w := _weight(pruned_state, n)) is not None}
    sensitivity = None
    if (work / "sensitivity.json").is_file():
        sensitivity = json.loads((work / "sensitivity.json").read_text())
    config = json.loads((run / "config.json").read_text())
    return RunRecord(
        sources=(f"work directory {run}",),
        error=last.results[-1].error if last.results else None,
        error_source=f"test error after the {last.stage} stage (PyTorch)",
        stages=tuple(r.__dict__ for r in last.results),
        sensitivity=sensitivity,
        baseline_weights=baseline,
        pruned_weights=pruned,
        settings=config,
    )


def run_record(
    dzip_path: str | os.PathLike,
    layers: list[str],
    work_dir: str | os.PathLike | None = None,
    result_json: str | os.PathLike | None = None,
) -> RunRecord:
    """Both sources merged: each field from the JSON result where it has it, else the work
    directory (the weights only come from the work directory)."""
    first = result_record(result_json, dzip_path) if result_json is not None else RunRecord()
    second = work_dir_record(work_dir, dzip_path, layers) if work_dir is not None else RunRecord()
    use_first = first.error is not None
    return RunRecord(
        sources=first.sources + second.sources,
        error=first.error if use_first else second.error,
        error_source=first.error_source if use_first else second.error_source,
        stages=first.stages or second.stages,
        sensitivity=first.sensitivity or second.sensitivity,
        baseline_weights=second.baseline_weights,
        pruned_weights=second.pruned_weights,
        settings=first.settings or second.settings,
    )
