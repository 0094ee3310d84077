"""One self-contained HTML page per compressed model: where the bytes went and why.

The page puts together, for one .dzip file, what Deep Compression's and EIE's figures show:

- the summary (dense and file bytes, ratio, the fraction of weights kept "P" and the compress
  rates "P+Q" and "P+Q+H" of Deep Compression Tables 2-5), and the test error when a result or
  work directory says it;
- ``deepzip inspect``'s per-layer table (sortable; every number also in a ``data-value``
  attribute, equal to ``inspect --json``'s) and the bytes per part as stacked bars;
- per layer: the shared weights over the kept weights' distribution (Deep Compression Fig. 4
  style), the code and gap histograms with their Huffman code lengths and entropy (Fig. 5 style),
  the downsampled sparsity pattern, and the stored entries per processing element of the
  engine's layout (EIE §III-C, load balance);
- with a work directory or a JSON result: error and density per stage, the sensitivity curves
  (Han et al. 2015, Fig. 6) and the weights before and after pruning (Fig. 4);
- with ``sim``: the cycle-level simulator's summary per layer (EIE §VI).

Figures are matplotlib PNGs inlined as data URIs; the page loads nothing from anywhere.
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

import numpy as np

from deepzip._files import atomic_write
from deepzip.report import _page, figures
from deepzip.report.inspect import InspectReport, InspectRow, inspect_report
from deepzip.report.sources import RunRecord, run_record
from deepzip.report.streams import LayerStreams, layer_streams

#: EIE's processing elements (the simulator's default): the layout whose load balance is drawn.
DEFAULT_PES = 64

#: The parts of the file, in the order and colours of the bytes chart.
PART_COLOURS = {
    "codes": "#3b6fd1",
    "indices": "#e0803a",
    "pointers": "#4aa564",
    "codebook": "#c44e52",
    "tables": "#8172b2",
    "biases": "#937860",
    "tensors": "#da8bc3",
    "header": "#8c8c8c",
    "checksum": "#ccb974",
}
_LAYER_PARTS = {
    "codes": "code_bytes",
    "indices": "index_bytes",
    "pointers": "pointer_bytes",
    "codebook": "codebook_bytes",
    "tables": "table_bytes",
    "biases": "bias_bytes",
    "header": "header_bytes",
}
_DPI = 100


def _png(fig, dpi: float = _DPI) -> bytes:
    return figures.png_bytes(fig, dpi, colours=64)


def _times(rate: float) -> str:
    return f"{1 / rate:.0f}×" if rate else "-"


def _rate(rate: float) -> str:
    return f"{rate:.2%} ({1 / rate:.0f}×)" if rate else "-"


def _row_cells(row: InspectRow) -> list[str]:
    c = _page.cell
    return [
        c(row.name, row.name),
        c(row.kind, row.kind),
        c("×".join(map(str, row.shape)), "x".join(map(str, row.shape))),
        c(f"{row.weights:,}", row.weights),
        c(f"{row.kept:.2%}", row.kept),
        c(f"{row.weight_bits_pq:.1f}", row.weight_bits_pq),
        c(f"{row.weight_bits_pqh:.2f}", row.weight_bits_pqh),
        c(f"{row.index_bits_pq:.1f}", row.index_bits_pq),
        c(f"{row.index_bits_pqh:.2f}", row.index_bits_pqh),
        c(_rate(row.rate_pq), row.rate_pq),
        c(_rate(row.rate_pqh), row.rate_pqh),
        c(f"{row.bytes_pqh:,}", row.bytes_pqh),
    ]


_TABLE_HEADERS = [
    "layer",
    "kind",
    "shape",
    "weights",
    "kept\n(P)",
    "weight bits\nP+Q",
    "weight bits\nP+Q+H",
    "index bits\nP+Q",
    "index bits\nP+Q+H",
    "rate\nP+Q",
    "rate\nP+Q+H",
    "bytes",
]


def _summary(path: Path, report: InspectReport, record: RunRecord) -> str:
    total = report.total
    items = [
        ("file_bytes", "file bytes", f"{report.file_bytes:,}", report.file_bytes),
        ("dense_bytes", "dense fp32 bytes", f"{report.dense_bytes:,}", report.dense_bytes),
        ("ratio", "smaller by", f"{report.ratio:.1f}×", report.ratio),
        ("kept", "weights kept (P)", f"{total.kept:.2%}", total.kept),
        (
            "rate_pq",
            f"P+Q, no Huffman ({_times(total.rate_pq)})",
            f"{total.rate_pq:.2%}",
            total.rate_pq,
        ),
        (
            "rate_pqh",
            f"P+Q+H, this file ({_times(total.rate_pqh)})",
            f"{total.rate_pqh:.2%}",
            total.rate_pqh,
        ),
    ]
    if record.error is not None:
        items.append(("error", "test error", f"{record.error:.2%}", record.error))
    cards = "".join(
        f'<div class="card"><dt>{escape(label)}</dt>'
        f'<dd data-key="{key}" data-value="{value}">{escape(text)}</dd></div>'
        for key, label, text, value in items
    )
    notes = [
        f"Rates are compressed bytes over the dense fp32 bytes; the P+Q+H total is the file's "
        f"real size. Headers, Huffman tables and checksum are {report.overhead_fraction:.2%} "
        "of the file."
    ]
    if record.error is not None:
        notes.append(f"Test error: {record.error_source}.")
    if record.sources:
        notes.append("Run data from " + "; ".join(record.sources) + ".")
    text = "".join(f'<p class="note">{escape(n)}</p>' for n in notes)
    return f'<section id="summary"><h2>Summary</h2><dl class="cards">{cards}</dl>{text}</section>'


def _stack(parts: dict[str, int]) -> str:
    total = sum(parts.values()) or 1
    spans = "".join(
        f'<span style="width:{100 * size / total:.3f}%;background:{PART_COLOURS[name]}" '
        f'title="{name}: {size:,} bytes ({size / total:.1%})"></span>'
        for name, size in parts.items()
        if size
    )
    return f'<div class="stack" role="img" aria-label="bytes per part">{spans}</div>'


def _bytes_section(report: InspectReport, sizes) -> str:
    legend = "".join(
        f'<span><i style="background:{PART_COLOURS[name]}"></i>{name} {size:,} '
        f"({size / report.file_bytes:.1%})</span>"
        for name, size in report.parts.items()
        if size
    )
    rows = []
    for layer in sizes.layers:
        parts = {part: getattr(layer, attr) for part, attr in _LAYER_PARTS.items()}
        bar = f'<td class="bar">{_stack(parts)}</td>'
        rows.append([_page.cell(layer.name), _page.cell(f"{layer.total_bytes:,}"), bar])
    rest = report.file_bytes - sum(layer.total_bytes for layer in sizes.layers)
    rows.append([_page.cell("file header, network, tensors, checksum"), _page.cell(f"{rest:,}")])
    rows[-1].append("<td></td>")
    return (
        '<section id="bytes"><h2>Where the bytes go</h2>'
        f'{_stack(dict(report.parts))}<div class="legend">{legend}</div>'
        "<h3>Per layer</h3>"
        f"{_page.table(['layer', 'bytes', 'parts'], rows)}</section>"
    )


def _layer_table(report: InspectReport) -> str:
    rows = [_row_cells(row) for row in report.rows]
    return (
        '<section id="layers"><h2>Per-layer table</h2>'
        '<p class="note">Deep Compression Tables 2–5, as <code>deepzip inspect</code> prints '
        "them; click a column to sort.</p>"
        + _page.table(
            _TABLE_HEADERS, rows, _row_cells(report.total), cls="sortable", id="layer-table"
        )
        + "</section>"
    )


def _run_section(record: RunRecord) -> str:
    tables, images = [], []
    if record.stages:
        rows = [
            [
                _page.cell(str(s["stage"]), s["stage"]),
                _page.cell(f"{s['error']:.2%}", s["error"]),
                _page.cell(f"{s['weights_kept']:.2%}", s["weights_kept"]),
                _page.cell(f"{s.get('seconds', 0):.1f}", s.get("seconds", 0)),
            ]
            for s in record.stages
        ]
        tables.append(_page.table(["stage", "test error", "weights kept", "seconds"], rows))
        png = _png(figures.draw_stages(record.stages), _DPI)
        images.append(_page.image(png, "error and density per stage"))
    if record.sensitivity:
        fig = figures.draw_sensitivity(record.sensitivity["ratios"], record.sensitivity["accuracy"])
        caption = "each layer pruned alone, without retraining (Han et al. 2015, Fig. 6)"
        images.append(_page.image(_png(fig), "sensitivity curves", caption))
    if not images:
        return ""
    return (
        '<section id="run"><h2>How it was made</h2>'
        + "".join(tables)
        + f'<div class="figures">{"".join(images)}</div></section>'
    )


def _layer_section(layer, streams: LayerStreams, record: RunRecord, pes: int) -> str:
    from deepzip.core import entropy_bits
    from deepzip.engine import EngineLayer

    name = layer.name
    entries = len(streams.codes)
    code_mean = streams.code_bits / entries if entries else 0.0
    gap_mean = streams.gap_bits / entries if entries else 0.0
    pe_entries = EngineLayer.from_compressed(layer, pes=pes).pe_entries()
    facts = [
        f"{layer.kind} {'×'.join(map(str, layer.weight_shape))}",
        f"{layer.num_kept:,} of {layer.num_weights:,} weights kept ({layer.density:.2%})",
        f"{entries:,} stored entries ({int(np.count_nonzero(streams.codes == 0)):,} filler zeros)",
        f"{len(layer.codebook) - 1} shared weights, {layer.weight_bits}-bit codes, "
        f"{layer.index_bits}-bit relative indices",
        f"codes: entropy {entropy_bits(streams.codes):.2f}, Huffman {code_mean:.2f} bits per entry",
        f"gaps: entropy {entropy_bits(streams.gaps):.2f}, Huffman {gap_mean:.2f} bits per entry",
    ]
    dense = layer.dense_weight()
    if name in record.pruned_weights:
        weights, label = record.pruned_weights[name], "kept weights before quantization"
    else:
        weights, label = dense, "kept weights (quantized, from the file)"
    symbols = figures.draw_symbol_histograms(
        streams.codes, streams.gaps, name, streams.code_lengths, streams.gap_lengths
    )
    drawn = [
        (figures.draw_codebook(weights, layer.codebook, name, label=label), "codebook", label),
        (
            figures.draw_sparsity_pattern(layer.mask.reshape(layer.codes.shape[0], -1), name),
            "sparsity pattern",
            "darker: more connections kept",
        ),
        (
            figures.draw_load_balance(pe_entries, name),
            "load balance",
            f"rows interleaved over {pes} processing elements, as the engine lays them out",
        ),
    ]
    if name in record.baseline_weights:
        after = record.pruned_weights.get(name, dense)
        drawn.append(
            (
                figures.draw_weight_histograms(record.baseline_weights[name], after, name),
                "weights before and after pruning",
                "Han et al. 2015, Fig. 4",
            )
        )
    images = _page.image(
        _png(symbols),
        f"{name}: code and gap histograms",
        "bars: how often each symbol occurs; dots: its Huffman code length",
        wide=True,
    )
    images += "".join(
        _page.image(_png(fig), f"{name}: {alt}", caption) for fig, alt, caption in drawn
    )
    items = "".join(f"<li>{escape(f)}</li>" for f in facts)
    return (
        f'<section class="layer" id="layer-{escape(name)}" data-layer="{escape(name)}">'
        f"<h2>Layer {escape(name)}</h2><ul>{items}</ul>"
        f'<div class="figures">{images}</div></section>'
    )


def _sim_section(model, pes: int) -> str:
    from deepzip.sim import SimConfig, simulate_file

    result = simulate_file(model, SimConfig(pes=pes))
    c = _page.cell
    rows = []
    for row, source in zip(result.layers, result.sources):
        rows.append(
            [
                c(row.name, row.name),
                c(row.kind + (" (one output position)" if row.kind == "conv2d" else "")),
                c(source),
                c(f"{row.cycles:,}", row.cycles),
                c(f"{row.latency_us:.2f}", row.latency_us),
                c(f"{row.load_efficiency:.1%}", row.load_efficiency),
                c(f"{row.stall_cycles:,}", row.stall_cycles),
                c(f"{row.energy_uj:.3f}", row.energy_uj),
            ]
        )
    headers = ["layer", "kind", "activations", "cycles", "latency µs", "load efficiency"]
    headers += ["stall cycles", "energy µJ"]
    return (
        f'<section id="sim"><h2>EIE simulation ({pes} PEs)</h2>'
        '<p class="note">One input vector per layer, cycle by cycle (docs/SIMULATOR.md).</p>'
        f"{_page.table(headers, rows, cls='sortable', id='sim-table')}</section>"
    )


def render_report(
    dzip_path: str | os.PathLike,
    work_dir: str | os.PathLike | None = None,
    result_json: str | os.PathLike | None = None,
    sim: bool = False,
    pes: int = DEFAULT_PES,
) -> str:
    """The report of ``dzip_path`` as one HTML document.

    Args:
        dzip_path: the .dzip file.
        work_dir: the ``compress`` or ``reproduce`` work directory that made it (stages,
            sensitivity, weights before pruning), if any.
        result_json: a ``reproduce --json`` or ``compress --json`` result (test error, stages,
            sensitivity), if any.
        sim: add the cycle-level simulator's summary per layer.
        pes: processing elements of the load-balance figures and the simulation.

    Raises:
        FormatError: the file is not a valid .dzip; ValueError: a source does not fit the file.
    """
    from deepzip.container import dzip_sizes, read_dzip

    path = Path(dzip_path)
    sizes = dzip_sizes(path)
    report = inspect_report(sizes)
    model = read_dzip(path)
    streams = {s.name: s for s in layer_streams(path)}
    record = run_record(path, [layer.name for layer in model.layers], work_dir, result_json)
    nav = "".join(
        f'<a href="#layer-{escape(layer.name)}">{escape(layer.name)}</a>' for layer in model.layers
    )
    body = [
        f"<h1>{escape(path.name)}</h1>",
        f'<nav><a href="#summary">summary</a><a href="#bytes">bytes</a>'
        f'<a href="#layers">table</a>{nav}</nav>',
        _summary(path, report, record),
        _bytes_section(report, sizes),
        _layer_table(report),
        _run_section(record),
        *(_layer_section(layer, streams[layer.name], record, pes) for layer in model.layers),
    ]
    if sim:
        body.append(_sim_section(model, pes))
    return _page.page(f"{path.name}: deepzip report", "\n".join(body))


def write_report(
    dzip_path: str | os.PathLike,
    out_path: str | os.PathLike | None = None,
    work_dir: str | os.PathLike | None = None,
    result_json: str | os.PathLike | None = None,
    sim: bool = False,
) -> Path:
    """Write ``render_report``'s page atomically to ``out_path`` (default: ``<file>.html`` beside
    the .dzip, e.g. ``lenet-5.html``) and return its path."""
    text = render_report(dzip_path, work_dir=work_dir, result_json=result_json, sim=sim)
    out = Path(out_path) if out_path is not None else Path(dzip_path).with_suffix(".html")
    data = text.encode("utf-8")
    atomic_write(out, lambda f: f.write(data))
    return out
