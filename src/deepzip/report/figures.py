"""The paper's figures, drawn from result data with matplotlib's Agg backend.

- ``weight_histograms``: a layer's weight distribution before and after pruning (Han et al. 2015,
  Fig. 4: pruning removes the middle of the bell).
- ``codebook_figure``: the shared weights (centroids) drawn over the weight distribution (Deep
  Compression, Fig. 4 style).
- ``symbol_histograms``: how often each cluster code and each relative-index gap occurs, the
  distributions Huffman coding exploits (Deep Compression, Fig. 5 style), optionally with the
  Huffman code length of each symbol and the streams' entropy.
- ``sensitivity_figure``: accuracy vs pruning ratio, one curve per layer (Han et al. 2015, Fig. 6).
- ``search_figure``: compression ratio against validation error of every point a budget search
  (``deepzip.search``) tried, with its Pareto front.
- ``design_space_figures``: the simulator's load efficiency vs FIFO depth and speedup vs number of
  processing elements (EIE, Figs. 8 and 11 style).
- ``draw_sparsity_pattern``, ``draw_load_balance``, ``draw_stages``: the kept connections of a
  weight matrix, the stored entries per processing element (EIE §III-C), and error and density
  after each pipeline stage; drawn for the HTML report.

Each writer writes one PNG file atomically and returns its path; each ``draw_*`` function returns
the matplotlib ``Figure`` (``png_bytes`` renders it), so the HTML report embeds the same
drawings. Nothing is shown on screen.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deepzip._files import atomic_write

if TYPE_CHECKING:  # importing the simulator costs time that drawing rarely needs
    from deepzip.sim.design_space import DesignSpace


def _figure(width: float = 6.4, height: float = 4.0, ncols: int = 1):  # -> (Figure, Axes)
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120)
    return fig, fig.subplots(1, ncols)


def png_bytes(fig, dpi: float | None = None, colours: int | None = None) -> bytes:
    """The figure as PNG bytes (laid out tightly); with ``colours``, reduced to a palette of that
    many colours (about a third of the bytes for these flat plots, with no visible change)."""
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=dpi)
    if colours is None:
        return buffer.getvalue()
    from PIL import Image

    buffer.seek(0)
    with Image.open(buffer) as image:
        palette = image.convert("RGB").quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
    small = io.BytesIO()
    palette.save(small, format="PNG", optimize=True)
    return small.getvalue()


def _save(fig, path: str | Path) -> Path:
    data = png_bytes(fig)
    atomic_write(path, lambda f: f.write(data))
    return Path(path)


def draw_weight_histograms(before: np.ndarray, after: np.ndarray, layer: str, bins: int = 200):
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
    return fig


def weight_histograms(
    before: np.ndarray, after: np.ndarray, layer: str, path: str | Path, bins: int = 200
) -> Path:
    """``draw_weight_histograms`` written to ``path``."""
    return _save(draw_weight_histograms(before, after, layer, bins), path)


def draw_codebook(
    weights: np.ndarray,
    codebook: np.ndarray,
    layer: str,
    bins: int = 200,
    label: str = "surviving weights",
):
    """The surviving weights' distribution with the shared weights (centroids) marked on it."""
    fig, ax = _figure()
    survivors = weights[weights != 0]
    ax.hist(survivors, bins=bins, color="tab:gray", alpha=0.7, label=label)
    centroids = codebook[1:]  # code 0 is the exact zero of pruned weights
    ax.plot(centroids, np.zeros_like(centroids), "rx", markersize=6, label="shared weights")
    for c in centroids:
        ax.axvline(float(c), color="tab:red", alpha=0.15, linewidth=0.8)
    ax.set_xlabel("weight value")
    ax.set_ylabel("count")
    ax.set_title(f"{layer}: {len(centroids)} shared weights over the weight distribution")
    ax.legend()
    return fig


def codebook_figure(
    weights: np.ndarray, codebook: np.ndarray, layer: str, path: str | Path, bins: int = 200
) -> Path:
    """``draw_codebook`` written to ``path``."""
    return _save(draw_codebook(weights, codebook, layer, bins), path)


def draw_symbol_histograms(
    codes: np.ndarray,
    gaps: np.ndarray,
    layer: str,
    code_lengths: np.ndarray | None = None,
    gap_lengths: np.ndarray | None = None,
):
    """Frequencies of the stored entries' cluster codes and relative-index gaps; with the
    Huffman code lengths, each symbol's code length on a second axis and the stream's entropy
    and mean coded bits per entry in the title."""
    from deepzip.core import entropy_bits

    fig, (left, right) = _figure(9.6, 3.6, ncols=2)
    panels = (
        (left, codes, "cluster code", code_lengths),
        (right, gaps, "relative index (gap)", gap_lengths),
    )
    for ax, values, what, lengths in panels:
        values = np.asarray(values).astype(np.int64).ravel()
        counts = np.bincount(values) if values.size else np.zeros(1, dtype=np.int64)
        ax.bar(np.arange(len(counts)), counts, width=0.9)
        ax.set_xlabel(what)
        ax.set_ylabel("count")
        title = f"{layer}: {what} distribution"
        if lengths is not None:
            lengths = np.asarray(lengths, dtype=np.int64)
            used = np.flatnonzero(lengths)
            twin = ax.twinx()
            twin.plot(used, lengths[used], "o", color="tab:orange", markersize=3)
            twin.set_ylabel("Huffman code length (bits)", color="tab:orange")
            twin.set_ylim(0, max(int(lengths.max()) + 1, 2))
            mean = float(lengths[values].mean()) if values.size else 0.0
            title = (
                f"{layer}: {what}\nentropy {entropy_bits(values):.2f} bits, "
                f"Huffman {mean:.2f} bits per entry"
            )
        ax.set_title(title, fontsize=10)
    return fig


def symbol_histograms(codes: np.ndarray, gaps: np.ndarray, layer: str, path: str | Path) -> Path:
    """``draw_symbol_histograms`` (without code lengths) written to ``path``."""
    return _save(draw_symbol_histograms(codes, gaps, layer), path)


def draw_sparsity_pattern(mask: np.ndarray, layer: str, cells: int = 100):
    """The fraction of kept connections in blocks of the ``(rows, cols)`` weight matrix, at most
    ``cells`` blocks a side (the matrix is downsampled, never drawn point by point)."""
    fig, ax = _figure(6.4, 4.0)
    mask = np.asarray(mask, dtype=bool)
    rows, cols = mask.shape
    row_step, col_step = max(1, -(-rows // cells)), max(1, -(-cols // cells))
    padded = np.zeros((-(-rows // row_step) * row_step, -(-cols // col_step) * col_step))
    padded[:rows, :cols] = mask
    counts = np.zeros_like(padded)
    counts[:rows, :cols] = 1
    shape = (padded.shape[0] // row_step, row_step, padded.shape[1] // col_step, col_step)
    density = padded.reshape(shape).sum(axis=(1, 3)) / counts.reshape(shape).sum(axis=(1, 3))
    image = ax.imshow(
        density,
        cmap="Greys",
        vmin=0,
        vmax=max(float(density.max()), 1e-9),
        aspect="auto",
        interpolation="nearest",
        extent=(0, cols, rows, 0),
    )
    fig.colorbar(image, ax=ax, label="fraction kept")
    ax.set_xlabel("input (column)")
    ax.set_ylabel("output (row)")
    block = f"{row_step}×{col_step} blocks" if row_step * col_step > 1 else "every weight"
    ax.set_title(f"{layer}: kept connections ({rows}×{cols}, {block})", fontsize=10)
    return fig


def draw_load_balance(pe_entries: np.ndarray, layer: str):
    """Stored entries (filler zeros included) per processing element, with the mean: the work
    each PE does for a dense input vector (EIE §III-C, load balance)."""
    fig, ax = _figure(6.4, 4.0)
    pe_entries = np.asarray(pe_entries)
    ax.bar(np.arange(len(pe_entries)), pe_entries, width=0.85)
    mean = float(pe_entries.mean()) if pe_entries.size else 0.0
    ax.axhline(mean, color="tab:red", linewidth=1, label=f"mean {mean:,.1f}")
    peak = int(pe_entries.max()) if pe_entries.size else 0
    efficiency = mean / peak if peak else 1.0
    ax.set_xlabel("processing element")
    ax.set_ylabel("stored entries")
    ax.set_title(
        f"{layer}: entries per PE over {len(pe_entries)} PEs (mean/max {efficiency:.0%})",
        fontsize=10,
    )
    ax.legend()
    return fig


def draw_stages(stages: Sequence[Mapping[str, float]], metric: str = "error"):
    """Test error and weights kept after each pipeline stage (``stage``, ``error`` and
    ``weights_kept`` keys, as the pipeline's stage results)."""
    fig, ax = _figure(6.4, 3.6)
    names = [str(s["stage"]) for s in stages]
    x = np.arange(len(names))
    ax.plot(x, [100 * float(s["error"]) for s in stages], "o-", color="tab:red", label=metric)
    ax.set_ylabel(f"test {metric} (%)", color="tab:red")
    twin = ax.twinx()
    kept = [100 * float(s["weights_kept"]) for s in stages]
    twin.bar(x, kept, width=0.5, alpha=0.25, color="tab:blue")
    twin.set_ylabel("weights kept (%)", color="tab:blue")
    twin.set_ylim(0, 105)
    ax.set_zorder(twin.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_title("error and density after each stage")
    ax.grid(alpha=0.3)
    return fig


def draw_sensitivity(ratios: Sequence[float], accuracy: Mapping[str, Sequence[float]]):
    """Accuracy vs pruning ratio, each layer pruned alone without retraining."""
    fig, ax = _figure()
    for name, values in accuracy.items():
        ax.plot(np.asarray(ratios) * 100, np.asarray(values) * 100, marker="o", label=name)
    ax.set_xlabel("parameters pruned away (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("sensitivity to pruning, per layer, without retraining")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def sensitivity_figure(
    ratios: Sequence[float], accuracy: Mapping[str, Sequence[float]], path: str | Path
) -> Path:
    """``draw_sensitivity`` written to ``path``."""
    return _save(draw_sensitivity(ratios, accuracy), path)


def pareto_front(ratios: Sequence[float], errors: Sequence[float]) -> list[int]:
    """The points no other point beats on both counts (a higher ratio and a lower error, one of
    them strictly), in order of increasing ratio."""
    order = sorted(range(len(ratios)), key=lambda i: (-ratios[i], errors[i]))
    front, best = [], float("inf")
    for i in order:
        if errors[i] < best:
            front.append(i)
            best = errors[i]
    return front[::-1]


def draw_search(
    ratios: Sequence[float],
    val_errors: Sequence[float],
    chosen: int,
    max_val_error: float | None = None,
    min_ratio: float | None = None,
):
    """Every point a budget search tried: compression ratio against validation error, the
    Pareto front joined, the chosen point circled, the budget drawn as a line."""
    fig, ax = _figure()
    x, y = np.asarray(ratios, dtype=float), 100 * np.asarray(val_errors, dtype=float)
    ax.scatter(x, y, color="tab:blue", zorder=3, label="trials")
    for i, (xi, yi) in enumerate(zip(x, y), start=1):
        ax.annotate(str(i), (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
    front = pareto_front(list(x), list(y))
    ax.plot(x[front], y[front], "-", color="tab:blue", alpha=0.5, label="Pareto front")
    ax.scatter(
        [x[chosen]], [y[chosen]], s=160, facecolors="none", edgecolors="tab:red", zorder=4,
        label="chosen",
    )  # fmt: skip
    if max_val_error is not None:
        ax.axhline(100 * max_val_error, color="tab:red", ls="--", lw=1, label="budget")
    if min_ratio is not None:
        ax.axvline(min_ratio, color="tab:red", ls="--", lw=1, label="budget")
    ax.set_xscale("log")
    ax.set_xlabel("compression ratio (dense fp32 bytes / file bytes)")
    ax.set_ylabel("validation error (%)")
    ax.set_title("budget search: every trial")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig


def search_figure(
    ratios: Sequence[float],
    val_errors: Sequence[float],
    chosen: int,
    path: str | Path,
    max_val_error: float | None = None,
    min_ratio: float | None = None,
) -> Path:
    """``draw_search`` written to ``path``."""
    return _save(draw_search(ratios, val_errors, chosen, max_val_error, min_ratio), path)


def search_result_figure(found: Any, path: str | Path) -> Path:
    """The Pareto plot of a finished budget search (``deepzip.search.SearchResult``): every
    trial's ratio against its validation error, the budget's line and the chosen trial."""
    max_val_error = None
    if found.config.max_loss is not None:
        max_val_error = found.baseline_val_error + found.config.max_loss / 100
    return search_figure(
        [t.ratio for t in found.trials],
        [t.val_error for t in found.trials],
        found.chosen.index - 1,
        path,
        max_val_error=max_val_error,
        min_ratio=found.config.min_ratio,
    )


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
