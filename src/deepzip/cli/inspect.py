"""The ``inspect`` command: where a .dzip file's bytes go, per layer and per part, from the file
alone (Deep Compression's Tables 2–5).
"""

from __future__ import annotations

from pathlib import Path

import click

from deepzip.cli.console import out, percent, print_json
from deepzip.cli.options import (
    fail_cleanly,
    json_option,
)


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@fail_cleanly
def inspect(file: Path, as_json: bool) -> None:
    """Per-layer sizes of a .dzip file (Deep Compression's Tables 2–5), from the file alone."""
    from rich.table import Table

    from deepzip.container import dzip_sizes
    from deepzip.report import inspect_report

    report = inspect_report(dzip_sizes(file))
    if as_json:
        print_json(report.to_dict())
        return
    table = Table(title=f"{file}: {report.file_bytes:,} bytes, {report.ratio:.1f}× smaller")
    headers = [
        "layer",
        "#weights",
        "kept",
        "weight bits P+Q",
        "P+Q+H",
        "index bits P+Q",
        "P+Q+H",
        "rate P+Q",
        "P+Q+H",
        "bytes",
    ]
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right")
    for row in (*report.rows, report.total):
        table.add_row(
            row.name,
            f"{row.weights:,}",
            percent(row.kept),
            f"{row.weight_bits_pq:.1f}",
            f"{row.weight_bits_pqh:.2f}",
            f"{row.index_bits_pq:.1f}",
            f"{row.index_bits_pqh:.2f}",
            f"{percent(row.rate_pq)} ({1 / row.rate_pq:.0f}×)" if row.rate_pq else "-",
            f"{percent(row.rate_pqh)} ({1 / row.rate_pqh:.0f}×)" if row.rate_pqh else "-",
            f"{row.bytes_pqh:,}",
            end_section=row is report.rows[-1] if report.rows else False,
        )
    out.print(table)
    parts = Table(title="bytes per part")
    parts.add_column("part")
    parts.add_column("bytes", justify="right")
    parts.add_column("share", justify="right")
    for name, size in report.parts.items():
        parts.add_row(name, f"{size:,}", percent(size / report.file_bytes))
    parts.add_row("total (file size)", f"{report.file_bytes:,}", "100.00%", end_section=True)
    out.print(parts)
    out.print(
        f"dense fp32 size {report.dense_bytes:,} bytes; header, tables and checksum "
        f"{percent(report.overhead_fraction)} of the file"
    )
