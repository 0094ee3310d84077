"""The ``decompress`` command: the dense (dequantized) weights of a .dzip file."""

from __future__ import annotations

from pathlib import Path

import click

from deepzip.cli.console import err
from deepzip.cli.options import (
    fail_cleanly,
)


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output: .safetensors, or .pt/.pth for a weights-only torch state_dict.",
)
@fail_cleanly
def decompress(file: Path, out_path: Path) -> None:
    """Write the dense (dequantized) weights of a .dzip file."""
    from deepzip.container import read_dzip
    from deepzip.network import dense_state_dict
    from deepzip.pipeline import save_state_dict, save_torch_state_dict
    from deepzip.preprocess import RESERVED

    # The recorded input normalization is not a weight of the user's model.
    state = {k: v for k, v in dense_state_dict(read_dzip(file)).items() if k not in RESERVED}
    if out_path.suffix in (".pt", ".pth"):
        save_torch_state_dict(out_path, state)
    elif out_path.suffix == ".safetensors":
        save_state_dict(out_path, state)
    else:
        raise click.BadParameter("give a .safetensors, .pt or .pth file name", param_hint="-o")
    total = sum(t.numel() for t in state.values())
    err.print(f"{out_path}: {len(state)} tensors, {total:,} values")
