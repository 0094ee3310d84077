"""The paper's figures as PNG files, drawn from result data with matplotlib's Agg backend.

- ``weight_histograms``: a layer's weight distribution before and after pruning (Han et al. 2015,
  Fig. 4: pruning removes the middle of the bell).
- ``codebook_figure``: the shared weights (centroids) drawn over the weight distribution (Deep
  Compression, Fig. 4 style).
- ``symbol_histograms``: how often each cluster code and each relative-index gap occurs, the
  distributions Huffman coding exploits (Deep Compression, Fig. 5 style).
- ``sensitivity_figure``: accuracy vs pruning ratio, one curve per layer (Han et al. 2015, Fig. 6).
- ``design_space_figures``: the simulator's load efficiency vs FIFO depth and speedup vs number of
  processing elements (EIE, Figs. 8 and 11 style).

Each function writes one file atomically and returns its path; nothing is shown on screen.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from deepzip._files import atomic_write
from deepzip.sim.design_space import DesignSpace


def _figure(width: float = 6.4, height: float = 4.0):  # -> (Figure, Axes)
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120)
    return fig, fig.subplots()


def _save(fig, path: str | Path) -> Path:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    atomic_write(path, lambda f: f.write(buffer.getvalue()))
    return Path(path)


def weight_histograms(
    before: np.ndarray, after: np.ndarray, layer: str, path: str | Path, bins: int = 200
) -> Path:
    """Histogram of a layer's weights before pruning and of the survivors after."""
    fig, ax = _figure()
    edges = np.linspace(float(before.min()), float(before.max()), bins + 1)
    ax.hist(before.ravel(), bins=edges, alpha=0.6, label=f"before pruning ({before.size:,})")
    survivors = after[after != 0]
    ax.hist(survivors, bins=edges, alpha=0.8, label=f"after pruning ({survivors.size:,})")
    ax.set_xlabel("weight value")
    ax.set_ylabel("count")
    ax.set_title(f"{layer}: weight distribution before and after pruning")
    ax.legend()
    return _save(fig, path)


def codebook_figure(
    weights: np.ndarray, codebook: np.ndarray, layer: str, path: str | Path, bins: int = 200
) -> Path:
    """The surviving weights' distribution with the shared weights (centroids) marked on it."""
    fig, ax = _figure()
    survivors = weights[weights != 0]
    ax.hist(survivors, bins=bins, color="tab:gray", alpha=0.7, label="surviving weights")
    centroids = codebook[1:]  # code 0 is the exact zero of pruned weights
    ax.plot(centroids, np.zeros_like(centroids), "rx", markersize=6, label="shared weights")
    for c in centroids:
        ax.axvline(float(c), color="tab:red", alpha=0.15, linewidth=0.8)
    ax.set_xlabel("weight value")
    ax.set_ylabel("count")
    ax.set_title(f"{layer}: {len(centroids)} shared weights over the weight distribution")
    ax.legend()
    return _save(fig, path)


def symbol_histograms(codes: np.ndarray, gaps: np.ndarray, layer: str, path: str | Path) -> Path:
    """Frequencies of the stored entries' cluster codes and relative-index gaps."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.6, 3.6), dpi=120)
    left, right = fig.subplots(1, 2)
    for ax, values, what in ((left, codes, "cluster code"), (right, gaps, "relative index (gap)")):
        counts = np.bincount(values.astype(np.int64).ravel()) if values.size else np.zeros(1)
        ax.bar(np.arange(len(counts)), counts, width=0.9)
        ax.set_xlabel(what)
        ax.set_ylabel("count")
        ax.set_title(f"{layer}: {what} distribution")
    return _save(fig, path)


def sensitivity_figure(
    ratios: Sequence[float], accuracy: Mapping[str, Sequence[float]], path: str | Path
) -> Path:
    """Accuracy vs pruning ratio, each layer pruned alone without retraining."""
    fig, ax = _figure()
    for name, values in accuracy.items():
        ax.plot(np.asarray(ratios) * 100, np.asarray(values) * 100, marker="o", label=name)
    ax.set_xlabel("parameters pruned away (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("sensitivity to pruning, per layer, without retraining")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def design_space_figures(directory: str | Path, space: DesignSpace) -> list[Path]:
    """EIE's design-space figures from a computed ``deepzip.sim.design_space``: load-balance
    efficiency vs FIFO depth (``fifo_depth_efficiency.png``) and speedup vs number of PEs
    (``pe_speedup.png``), written into ``directory``. Returns the two paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)

    fig, ax = _figure(6.4, 4.2)
    for name in space.layers:
        ax.plot(space.fifo_depths, space.efficiency[name], marker="o", ms=3, label=name)
    mean = np.mean([space.efficiency[n] for n in space.layers], axis=0)
    ax.plot(space.fifo_depths, mean, color="black", lw=2.5, label="mean")
    ax.set_xscale("log", base=2)
    ax.set_xticks(space.fifo_depths, [str(d) for d in space.fifo_depths])
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("activation queue (FIFO) depth")
    ax.set_ylabel("load-balance efficiency")
    ax.set_title(f"Load efficiency vs FIFO depth ({space.config.pes} PEs)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    first = _save(fig, directory / "fifo_depth_efficiency.png")

    fig, ax = _figure(6.4, 4.2)
    for name in space.layers:
        ax.plot(space.pes, space.speedup(name), marker="o", ms=3, label=name)
    base = space.pes[0]
    ax.plot(space.pes, [n / base for n in space.pes], color="gray", ls="--", label="linear")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xticks(space.pes, [str(n) for n in space.pes])
    top = max(max(space.speedup(n)) for n in space.layers)
    ticks = [2**i for i in range(int(np.log2(max(top, 1))) + 2)]
    ax.set_yticks(ticks, [str(t) for t in ticks])
    ax.set_xlabel("processing elements")
    ax.set_ylabel(f"speedup over {base} PE" + ("s" if base > 1 else ""))
    ax.set_title(f"Scalability (FIFO depth {space.config.fifo_depth})")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    second = _save(fig, directory / "pe_speedup.png")
    return [first, second]
