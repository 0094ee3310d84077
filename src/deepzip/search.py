"""Ask for a budget, get the smallest file: a search over per-layer densities and weight bits.

The budget is on the validation metric (``max_loss``: at most P points below the trained
baseline, 0.5 meaning half a point of accuracy) or on the size (``min_ratio``: at least R× smaller
than the dense float32 weights). The search

1. trains the baseline once (the pipeline's baseline stage, on the training split less the
   validation split) and measures it on the validation split;
2. runs the sensitivity analysis on the validation split (Han et al. 2015, §3.4 and Fig. 6: each
   layer pruned alone, without retraining), which says how much each layer can be pruned;
3. bisects one number, the aggressiveness a in [0, 1], which maps to per-layer sparsities
   (``deepzip.prune.allocation.sparsities``): over its upper two thirds, each layer takes the
   sparsity that minimizes its loss in that analysis plus a multiplier times the bytes it keeps
   (a Lagrangian allocation: every layer trades accuracy for bytes at the same rate, so a small
   layer, which saves few bytes, is pruned less than a large one at the same loss), the
   multiplier log-spaced from where every layer is at its 0.1-point loss to where every layer is
   at the largest ratio; over its lower third, every layer's kept fraction goes geometrically
   from all weights (a = 0) to that 0.1-point point, as layers pruned together and retrained
   can lose more than each alone. Each trial is a whole
   pipeline run from the baseline (iterative pruning with retraining, weight sharing, centroid
   fine-tuning: Deep Compression §2–3), measured on the validation split, and its file is
   written to measure its real byte count;
4. with ``max_loss``, lowers the weight bits of the smallest file found, one bit at a time, while
   the budget holds and the file shrinks (the pruned network is reused: only quantization and
   fine-tuning are redone); with ``min_ratio``, bisects again at each of ``bits_trials`` narrower
   weight widths (fewer bits reach the ratio with less pruning, which may cost less accuracy).

In every trial, before weight sharing, each layer is weight-shared alone on the pruned network
and measured (Deep Compression's per-layer quantization sensitivity at the trial's widths); a
layer that loses more than ``SearchConfig.exact_loss`` points so is stored exact instead, every
kept weight its own centroid (``QuantizeConfig.exact``): MobileNet's first depthwise
convolution, whose channels differ in scale after BatchNorm folding, lost 13.5 points shared at
the 5 bits its 161 kept weights allowed.

Every trial chooses each layer's relative-index width (1 to 8 bits) that makes the layer's record
smallest (``QuantizeConfig.auto_index_bits``: the same network at every width, so only bytes
decide), and keeps its fine-tuned centroids only if fine-tuning did not raise the validation
error (``CompressConfig.finetune_if_better``).

Among the trials that meet the budget it picks the smallest file (``max_loss``) or the lowest
validation error (``min_ratio``). The test split is never looked at here: the caller measures the
chosen model on it. Everything lands in the work directory: the baseline, the sensitivity, one
pipeline work directory per trial and ``search.json`` with every finished trial, so that an
interrupted search resumes where it stopped and a finished one (or one with another budget on the
same settings) replays its trials without training them again.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from torch import nn

from deepzip._files import atomic_write
from deepzip.capture import fold_batchnorm
from deepzip.compressed import MAX_WEIGHT_BITS
from deepzip.config import to_json
from deepzip.layers import select_weights
from deepzip.pipeline import (
    CompressConfig,
    PipelineError,
    PipelineResult,
    Reporter,
    as_task,
    build,
    check_config,
    load_checkpoint,
    run_pipeline,
    save_state_dict,
    write_result,
)
from deepzip.prune import get_mask
from deepzip.prune.allocation import sparsities
from deepzip.prune.sensitivity import SensitivityResult, sensitivity_analysis
from deepzip.share import share_weights
from deepzip.task import Task
from deepzip.training import TensorData

#: Pruning ratios of the sensitivity analysis: the paper's grid, finer where it matters most.
SEARCH_RATIOS = (0.0, 0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995)
#: Bits per kept weight besides its code, for the allocation's estimate of a layer's bytes.
INDEX_BITS_ESTIMATE = 4
SEARCH_FORMAT = "deepzip-search/1"


class SearchError(PipelineError):
    """No trial met the budget."""


@dataclass(frozen=True)
class SearchConfig:
    """The budget (exactly one of ``max_loss``, in points of the validation metric against the
    trained baseline, and ``min_ratio``, dense fp32 bytes over file bytes) and the trials."""

    max_loss: float | None = None
    min_ratio: float | None = None
    density_trials: int = 6
    bits_trials: int = 3
    min_bits: int = 2
    # In each trial, a layer that alone loses more than this many points of the validation
    # metric when its pruned weights are weight-shared is stored exact instead (None: none is).
    exact_loss: float | None = 0.2

    def __post_init__(self) -> None:
        if (self.max_loss is None) == (self.min_ratio is None):
            raise ValueError("give exactly one of max_loss and min_ratio")
        if self.max_loss is not None and not self.max_loss >= 0:
            raise ValueError(f"max_loss must be >= 0 points, got {self.max_loss}")
        if self.min_ratio is not None and not self.min_ratio > 0:
            raise ValueError(f"min_ratio must be > 0, got {self.min_ratio}")
        if self.density_trials < 1:
            raise ValueError(f"density_trials must be >= 1, got {self.density_trials}")
        if self.bits_trials < 0 or self.min_bits < 1:
            raise ValueError("bits_trials must be >= 0 and min_bits >= 1")
        if self.exact_loss is not None and not self.exact_loss >= 0:
            raise ValueError(f"exact_loss must be >= 0 points, got {self.exact_loss}")

    def budget(self) -> dict[str, float]:
        if self.max_loss is not None:
            return {"max_loss": self.max_loss}
        return {"min_ratio": float(self.min_ratio)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class Trial:
    """One point the search tried: its settings (the aggressiveness that set the sparsities,
    the sparsities, the weight bits) and what it measured."""

    index: int
    phase: str  # "density" (bisection) or "bits" (fewer weight bits than the starting ones)
    aggressiveness: float
    sparsity: dict[str, float]
    bits: dict[str, int]
    val_error: float
    file_bytes: int
    dense_bytes: int
    ratio: float
    meets_budget: bool
    seconds: float
    # Points of the validation metric each layer lost when weight-shared alone after pruning,
    # and the layers over ``SearchConfig.exact_loss`` that were stored exact instead.
    sharing_loss: dict[str, float] = field(default_factory=dict)
    exact: list[str] = field(default_factory=list)

    def settings(self) -> dict[str, Any]:
        return {"aggressiveness": self.aggressiveness, "sparsity": self.sparsity, "bits": self.bits}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {
            "trial": d.pop("index"),
            "settings": {k: d.pop(k) for k in ("aggressiveness", "sparsity", "bits")},
            **d,
        }


@dataclass
class SearchResult:
    config: SearchConfig
    baseline_val_error: float
    trials: list[Trial]
    chosen: Trial
    result: PipelineResult  # the chosen trial's pipeline run (model, layers, stage results)
    directory: Path  # the chosen trial's pipeline work directory (its checkpoints)

    def to_dict(self) -> dict[str, Any]:
        """The chosen point (its test ``error`` measured on the model that goes to the file)
        and every trial."""
        return {
            "budget": self.config.budget(),
            "baseline_val_error": self.baseline_val_error,
            "ratio": self.chosen.ratio,
            "val_error": self.chosen.val_error,
            "error": self.result.stages[-1].error,
            "file_bytes": self.chosen.file_bytes,
            "chosen_trial": self.chosen.index,
            "settings": self.chosen.settings(),
            "sharing_loss": self.chosen.sharing_loss,
            "exact": self.chosen.exact,
            "trials": [t.to_dict() for t in self.trials],
        }


def search(
    config: CompressConfig,
    data: TensorData | Task,
    work_dir: str | Path,
    budget: SearchConfig,
    example_inputs: Any,
    reporter: Reporter | None = None,
    restart: bool = False,
    sensitivity: SensitivityResult | None = None,
) -> SearchResult:
    """Find the smallest file within ``budget.max_loss`` (or the most accurate one at
    ``budget.min_ratio``); see the module doc. ``config`` gives everything but the sparsities
    (its ``prune.sparsity`` or ``quality`` is replaced) and the starting weight bits; it needs a
    validation split (``val_size``, or a Task with ``validate``). ``example_inputs`` capture
    the network for each trial's file. ``sensitivity``, when given, is the baseline's
    sensitivity analysis on the validation split, already run (``deepzip reproduce`` shares its
    own); otherwise the search runs it."""
    found = _Search(config, data, Path(work_dir), budget, example_inputs, reporter, restart)
    return found.run(sensitivity)


class _Search:
    def __init__(
        self,
        config: CompressConfig,
        data: TensorData | Task,
        work: Path,
        budget: SearchConfig,
        example_inputs: Any,
        reporter: Reporter | None,
        restart: bool,
    ) -> None:
        self.model = check_config(config)
        if as_task(config, data).validate is None:
            raise PipelineError(
                "the search chooses on a validation split: give the config a val_size (or the "
                "Task a validate callback)"
            )
        self.config, self.data, self.work, self.budget = config, data, work, budget
        self.example_inputs = example_inputs
        self.reporter = reporter or Reporter()
        self.trials: list[Trial] = []
        work.mkdir(parents=True, exist_ok=True)
        self.records = self._open(restart)

    # --- the work directory ---------------------------------------------------------------

    def _open(self, restart: bool) -> list[dict[str, Any]]:
        """The finished trials recorded in ``search.json``; one written for other settings is
        refused (``restart`` clears what the search wrote)."""
        path = self.work / "search.json"
        if restart:
            path.unlink(missing_ok=True)
            for name in ("baseline.safetensors", "sensitivity.json"):
                (self.work / name).unlink(missing_ok=True)
            for folder in [self.work / "baseline", *self.work.glob("trial-*")]:
                if folder.is_dir():
                    shutil.rmtree(folder)
        if not path.exists():
            return []
        try:
            saved = json.loads(path.read_text())
            records = saved["trials"]
            settings = saved["config"]
            if saved.get("format") != SEARCH_FORMAT:
                raise ValueError(f"format {saved.get('format')!r}")
        except (ValueError, KeyError, TypeError) as exc:
            raise PipelineError(f"{path} is unreadable ({exc}); use --restart") from exc
        if settings != json.loads(to_json(self.config)):
            raise PipelineError(
                f"{self.work} holds a search with other settings; use another work directory or "
                "restart (--restart)"
            )
        return records

    def _save(self) -> None:
        text = json.dumps(
            {
                "format": SEARCH_FORMAT,
                "config": json.loads(to_json(self.config)),
                "trials": self.records,
            },
            indent=1,
            sort_keys=True,
        ).encode()
        atomic_write(self.work / "search.json", lambda f: f.write(text))

    # --- the search -------------------------------------------------------------------------

    def run(self, sensitivity: SensitivityResult | None = None) -> SearchResult:
        baseline = run_pipeline(
            self.config, self.data, self.work / "baseline", self.reporter, stop_after="baseline"
        )
        baseline_val_error = baseline.stages[0].val_error
        assert baseline_val_error is not None  # the task validates (checked in __init__)
        self.baseline_val_error = baseline_val_error
        weights = self.config.weights
        if weights is None:
            path = self.work / "baseline.safetensors"
            if not path.exists():
                save_state_dict(path, baseline.model.state_dict())
            weights = str(path.resolve())
        self.trial_config = replace(self.config, weights=weights)
        if sensitivity is None:
            sensitivity = self._sensitivity(baseline)
        selected = select_weights(self.model)
        kinds = {name: t.kind for name, t in selected.items()}
        self.sizes = {name: t.weight.numel() for name, t in selected.items()}
        self.start_bits = {n: self.config.quantize.bits_for(n, k) for n, k in kinds.items()}
        self.sensitivity = sensitivity
        high = self._bisect("density", self.start_bits, 1.0)
        if not any(t.meets_budget for t in self.trials):  # the end of the range
            a = 0.0 if self.budget.max_loss is not None else 1.0
            self._trial("density", a, self._sparsities(a, self.start_bits), self.start_bits)
        if self.budget.max_loss is not None:
            self._fewer_bits()
        else:
            self._fewer_bits_at_ratio(high)
        chosen = self._choose()
        self.reporter.message(f"search: chose trial {chosen.index}")
        directory = self.work / self._record(chosen)["dir"]
        config = self._trial_config(chosen.sparsity, chosen.bits, chosen.exact)
        result = run_pipeline(config, self.data, directory, self.reporter)
        return SearchResult(self.budget, baseline_val_error, self.trials, chosen, result, directory)

    def _bisect(self, phase: str, bits: dict[str, int], high: float) -> float:
        """Bisect the aggressiveness in [0, ``high``] at these weight bits; return the least
        aggressiveness whose trial met a ``min_ratio`` budget (``high`` if none did)."""
        low = 0.0
        for _ in range(self.budget.density_trials):
            a = (low + high) / 2
            trial = self._trial(phase, a, self._sparsities(a, bits), bits)
            # A trial within the budget asks for a harder one under max_loss, a softer one
            # under min_ratio (where meeting the budget means the file is small enough).
            if trial.meets_budget == (self.budget.max_loss is not None):
                low = a
            else:
                high = a
        return high

    def _sparsities(self, aggressiveness: float, bits: dict[str, int]) -> dict[str, float]:
        costs = {
            name: self.sizes[name] * (bits[name] + INDEX_BITS_ESTIMATE)
            for name in self.sensitivity.accuracy
        }
        return sparsities(self.sensitivity, aggressiveness, costs)

    def _fewer_bits_at_ratio(self, high: float) -> None:
        """Under ``min_ratio``: with fewer weight bits the same ratio needs less pruning, which
        may cost less accuracy. For each of ``bits_trials`` narrower widths, one bit at a time,
        bisect again below the aggressiveness that reached the ratio at the wider width."""
        bits = self.start_bits
        for _ in range(self.budget.bits_trials):
            fewer = {n: max(self.budget.min_bits, b - 1) for n, b in bits.items()}
            if fewer == bits:
                return
            bits = fewer
            high = self._bisect("bits", bits, high)

    def _fewer_bits(self) -> None:
        feasible = [t for t in self.trials if t.meets_budget]
        if not feasible:
            return
        best = min(feasible, key=lambda t: (t.file_bytes, t.val_error, t.index))
        for _ in range(self.budget.bits_trials):
            bits = {n: max(self.budget.min_bits, b - 1) for n, b in best.bits.items()}
            if bits == best.bits:
                return
            parent = self.work / self._record(best)["dir"]
            trial = self._trial("bits", best.aggressiveness, best.sparsity, bits, parent)
            if not trial.meets_budget or trial.file_bytes >= best.file_bytes:
                return
            best = trial

    def _choose(self) -> Trial:
        feasible = [t for t in self.trials if t.meets_budget]
        if not feasible:
            if self.budget.max_loss is not None:
                least = min(self.trials, key=lambda t: (t.val_error, t.index))
                loss = 100 * (least.val_error - self.baseline_val_error)
                raise SearchError(
                    f"no trial lost at most {self.budget.max_loss:g} points of the validation "
                    f"metric: the least lossy (trial {least.index}, {least.ratio:.1f}×) lost "
                    f"{loss:.2f}"
                )
            most = max(self.trials, key=lambda t: (t.ratio, -t.index))
            raise SearchError(
                f"no trial reached {self.budget.min_ratio:g}×: the smallest file (trial "
                f"{most.index}) is {most.ratio:.1f}× smaller than the dense weights"
            )
        if self.budget.max_loss is not None:
            return min(feasible, key=lambda t: (t.file_bytes, t.val_error, t.index))
        return min(feasible, key=lambda t: (t.val_error, t.file_bytes, t.index))

    def _sharing_losses(
        self, config: CompressConfig, directory: Path
    ) -> tuple[dict[str, float], dict[str, int]]:
        """Run the trial's pruning stages (or reuse them), then weight-share each layer alone
        on the pruned network at the trial's bits and measure it: the points of the validation
        metric each one loses, and each layer's kept weights. Deep Compression's per-layer
        quantization sensitivity (its Fig. 8) at the trial's widths: a small layer whose
        channels differ in scale (MobileNet's first 3×3 depthwise convolution after BatchNorm
        folding: 161 kept weights, capped at 5 bits, lost 13.5 points) cannot share one codebook
        at any width the cap allows."""
        last = [s for s in config.stages() if s.startswith("prune-")][-1]
        run_pipeline(config, self.data, directory, self.reporter, stop_after=last)
        validate = as_task(self.config, self.data).validate
        assert validate is not None

        def pruned() -> nn.Module:
            model = build(config)
            fold_batchnorm(model, self.example_inputs)
            load_checkpoint(directory / f"{last}.pt", model)
            return model

        model = pruned()
        reference = 1 - validate(model)
        kept = {}
        for name, t in select_weights(model, config.prune.layers).items():
            mask = get_mask(t.module, t.param)
            kept[name] = int(mask.sum()) if mask is not None else t.weight.numel()
        losses: dict[str, float] = {}
        for name in kept:
            model = pruned()
            share_weights(model, config.quantize, [name])
            losses[name] = round(100 * ((1 - validate(model)) - reference), 4)
        return losses, kept

    def _exact(self, losses: dict[str, float], kept: dict[str, int]) -> list[str]:
        """The layers over the limit; those a codebook cannot hold exactly (over 4,095 kept
        weights) stay shared, and the reporter says so."""
        limit = self.budget.exact_loss
        assert limit is not None
        over = [name for name, loss in losses.items() if loss > limit + 1e-9]
        too_large = [name for name in over if kept[name] > 2**MAX_WEIGHT_BITS - 1]
        if too_large:
            self.reporter.message(
                "kept shared, too large to store exact: "
                + ", ".join(f"{n} ({losses[n]:.2f} points, {kept[n]:,} weights)" for n in too_large)
            )
        return [name for name in over if name not in too_large]

    def _sensitivity(self, baseline: PipelineResult) -> SensitivityResult:
        path = self.work / "sensitivity.json"
        if not path.exists():
            self.reporter.message("search: sensitivity analysis on the validation split")
        validate = as_task(self.config, self.data).validate
        assert validate is not None
        return cached_sensitivity(path, baseline.model, validate, self.config.prune.layers)

    # --- one trial --------------------------------------------------------------------------

    def _trial_config(
        self, sparsity: dict[str, float], bits: dict[str, int], exact: list[str] | None = None
    ) -> CompressConfig:
        prune = replace(self.config.prune, sparsity=sparsity, quality=None, scope="layer")
        quantize = replace(
            self.config.quantize, bits=bits, auto_index_bits=True, exact=list(exact or [])
        )
        return replace(self.trial_config, prune=prune, quantize=quantize, finetune_if_better=True)

    def _meets(self, val_error: float, ratio: float) -> bool:
        if self.budget.max_loss is not None:
            loss = 100 * (val_error - self.baseline_val_error)
            return loss <= self.budget.max_loss + 1e-9
        return ratio >= self.budget.min_ratio  # type: ignore[operator]

    def _record(self, trial: Trial) -> dict[str, Any]:
        settings = {"sparsity": trial.sparsity, "bits": trial.bits}
        return next(r for r in self.records if r["settings"] == settings)

    def _trial(
        self,
        phase: str,
        aggressiveness: float,
        sparsity: dict[str, float],
        bits: dict[str, int],
        parent: Path | None = None,
    ) -> Trial:
        """Run (or find already run) the pipeline at these settings; measure its file."""
        settings = {"sparsity": sparsity, "bits": bits}
        index = len(self.trials) + 1
        record = next((r for r in self.records if r["settings"] == settings), None)
        resumed = record is not None
        if record is None:
            directory = self.work / f"trial-{len(self.records) + 1:02d}"
            self.reporter.message(
                f"search trial {index} ({phase}): aggressiveness {aggressiveness:.4f} → "
                + ", ".join(f"{n} {1 - s:.1%} kept" for n, s in sparsity.items())
                + "; bits "
                + ",".join(str(b) for b in bits.values())
            )
            if parent is not None and not directory.exists():
                _copy_pruned(parent, directory)
            start = time.perf_counter()
            config = self._trial_config(sparsity, bits)
            losses: dict[str, float] = {}
            exact: list[str] = []
            if self.budget.exact_loss is not None:
                losses, kept = self._sharing_losses(config, directory)
                exact = self._exact(losses, kept)
                if exact:
                    self.reporter.message(
                        "stored exact (each lost more than "
                        f"{self.budget.exact_loss:g} points when weight-shared alone): "
                        + ", ".join(f"{n} ({losses[n]:.2f})" for n in exact)
                    )
                config = self._trial_config(sparsity, bits, exact)
            result = run_pipeline(config, self.data, directory, self.reporter)
            with tempfile.TemporaryDirectory(dir=self.work) as tmp:
                written = write_result(result, Path(tmp) / "trial.dzip", self.example_inputs)
            record = {
                "dir": directory.name,
                "settings": settings,
                "val_error": result.stages[-1].val_error,
                "file_bytes": written["file_bytes"],
                "dense_bytes": written["dense_bytes"],
                "seconds": time.perf_counter() - start,
                "sharing_loss": losses,
                "exact": exact,
            }
            self.records.append(record)
            self._save()
        ratio = record["dense_bytes"] / record["file_bytes"]
        trial = Trial(
            index,
            phase,
            aggressiveness,
            sparsity,
            bits,
            val_error=record["val_error"],
            file_bytes=record["file_bytes"],
            dense_bytes=record["dense_bytes"],
            ratio=ratio,
            meets_budget=self._meets(record["val_error"], ratio),
            seconds=record["seconds"],
            sharing_loss=record.get("sharing_loss", {}),
            exact=record.get("exact", []),
        )
        self.trials.append(trial)
        self.reporter.trial_end(trial, resumed)
        return trial


def cached_sensitivity(
    path: Path,
    model: Any,
    validate: Any,
    layers: list[str] | None = None,
    on_point: Any = None,
) -> SensitivityResult:
    """The sensitivity analysis of ``model`` on the validation metric ``validate``, at the
    search's ratios, run once: read from ``path`` when it is there, written there atomically
    otherwise."""
    if path.exists():
        return SensitivityResult.from_dict(json.loads(path.read_text()))
    result = sensitivity_analysis(model, validate, SEARCH_RATIOS, layers, on_point)
    text = json.dumps(result.to_dict()).encode()
    atomic_write(path, lambda f: f.write(text))
    return result


def _copy_pruned(parent: Path, directory: Path) -> None:
    """Start a trial's work directory from another's baseline and pruning checkpoints: the
    pipeline then redoes only quantization and fine-tuning (the settings that changed)."""
    directory.mkdir(parents=True)
    for path in [parent / "config.json", parent / "baseline.pt", *parent.glob("prune-*.pt")]:
        if path.exists():
            shutil.copy2(path, directory / path.name)


__all__ = [
    "SEARCH_RATIOS",
    "SearchConfig",
    "SearchError",
    "SearchResult",
    "Trial",
    "cached_sensitivity",
    "search",
]
