"""The ``deepzip`` command group: one line per command, each command in its own module.

Only ``cli/`` parses argv, prints and sets exit codes: 0 on success, 1 when the work fails (bad
data, unreadable weights, a foreign work directory), 2 for a wrong command line.
"""

from __future__ import annotations

import click

from deepzip.cli.compress import compress
from deepzip.cli.decompress import decompress
from deepzip.cli.demo import demo
from deepzip.cli.dsd import dsd
from deepzip.cli.inspect import inspect
from deepzip.cli.reproduce import reproduce
from deepzip.cli.run import run
from deepzip.cli.sensitivity import sensitivity
from deepzip.cli.sim import sim


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="deepzip")
def cli() -> None:
    """deepzip: Deep Compression (prune, share weights, Huffman-code) and EIE inference."""


cli.add_command(demo)
cli.add_command(compress)
cli.add_command(inspect)
cli.add_command(decompress)
cli.add_command(run)
cli.add_command(sim)
cli.add_command(reproduce)
cli.add_command(sensitivity)
cli.add_command(dsd)


from deepzip.cli.report import report  # noqa: E402  (one module per command)

cli.add_command(report)


def main() -> None:
    cli(prog_name="deepzip")
