"""``deepzip report FILE.dzip``: one self-contained HTML page about a compressed model.

Exit codes: 0 written, 1 the file, work directory or result cannot be used (one line on stderr
naming it), 2 a wrong command line. The path written goes to stdout, progress to stderr.
"""

from __future__ import annotations

from pathlib import Path

import click

from deepzip.cli.console import err


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--work-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The compress or reproduce work directory that made FILE: per-stage error and "
    "density, sensitivity curves, weights before and after pruning.",
)
@click.option(
    "--result",
    "result_json",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JSON result of `reproduce --json` or `compress --json` (test error, stages, "
    "sensitivity).",
)
@click.option(
    "-o",
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output HTML file. Default: FILE with the suffix .html.",
)
@click.option("--sim", is_flag=True, help="Add the EIE simulator's summary of each layer.")
def report(
    file: Path,
    work_dir: Path | None,
    result_json: Path | None,
    out_path: Path | None,
    sim: bool,
) -> None:
    """Write an HTML report of a .dzip file: sizes, per-layer table and figures."""
    from deepzip.container import FormatError
    from deepzip.pipeline import PipelineError
    from deepzip.report.html import write_report

    err.print(f"[dim]drawing the report of {file}[/dim]")
    try:
        written = write_report(file, out_path, work_dir=work_dir, result_json=result_json, sim=sim)
    except FormatError as exc:
        raise click.ClickException(f"{file}: not a valid .dzip file: {exc}") from exc
    except (PipelineError, ValueError, KeyError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise click.ClickException(f"{file}: cannot write its report: {message}") from exc
    click.echo(str(written))
