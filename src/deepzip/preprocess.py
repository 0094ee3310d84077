"""The user's input preprocessing, recorded with the model: per-channel normalization.

A network trained on ``(x - mean) / std`` inputs gives nonsense on raw ones. ``compress`` and the
other commands take ``--normalize MEAN,STD``, train and measure on normalized inputs, and record
the values in the .dzip file as two plain float32 tensors of shape ``(C,)`` under the reserved
names ``deepzip.input_mean`` and ``deepzip.input_std`` (docs/FORMAT.md, "Tensors"), so that
``run`` applies what the model was trained with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

INPUT_MEAN = "deepzip.input_mean"
INPUT_STD = "deepzip.input_std"
RESERVED = (INPUT_MEAN, INPUT_STD)


@dataclass(frozen=True)
class Normalization:
    """``(x - mean) / std`` per channel (axis 1 of the input); one value applies to all."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError(
                f"give as many means as standard deviations, got {len(self.mean)} and "
                f"{len(self.std)}"
            )
        if any(not s > 0 for s in self.std):
            raise ValueError(f"standard deviations must be > 0, got {self.std}")

    @classmethod
    def parse(cls, text: str) -> Normalization:
        """``"0.1307,0.3081"`` (one channel) or ``"m1,m2,m3,s1,s2,s3"`` (means, then stds)."""
        try:
            values = [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"{text!r} is not a comma-separated list of numbers") from None
        if len(values) < 2 or len(values) % 2:
            raise ValueError(
                f"{text!r}: give MEAN,STD, or the means of all channels then their standard "
                "deviations (an even number of values)"
            )
        half = len(values) // 2
        return cls(tuple(values[:half]), tuple(values[half:]))

    def __str__(self) -> str:
        return f"mean {', '.join(f'{m:g}' for m in self.mean)}; std " + ", ".join(
            f"{s:g}" for s in self.std
        )

    def apply(self, x: Any) -> Any:
        """Normalize a batch (N, C, ...) as a tensor or a numpy array, keeping its type."""
        shape = (1, len(self.mean)) + (1,) * (x.ndim - 2) if len(self.mean) > 1 else ()
        if len(self.mean) > 1 and (x.ndim < 2 or x.shape[1] != len(self.mean)):
            raise ValueError(
                f"normalization has {len(self.mean)} channels, inputs have shape {tuple(x.shape)}"
            )
        mean = np.asarray(self.mean, np.float32).reshape(shape)
        std = np.asarray(self.std, np.float32).reshape(shape)
        if isinstance(x, torch.Tensor):
            return (x - torch.from_numpy(mean).to(x.device)) / torch.from_numpy(std).to(x.device)
        return ((x - mean) / std).astype(np.float32)

    def to_tensors(self) -> dict[str, np.ndarray]:
        return {
            INPUT_MEAN: np.asarray(self.mean, np.float32),
            INPUT_STD: np.asarray(self.std, np.float32),
        }

    @classmethod
    def from_tensors(cls, tensors: Mapping[str, Any]) -> Normalization | None:
        """The normalization a file records, or None."""
        if INPUT_MEAN not in tensors and INPUT_STD not in tensors:
            return None
        if INPUT_MEAN not in tensors or INPUT_STD not in tensors:
            raise ValueError(f"the file records only one of {INPUT_MEAN} and {INPUT_STD}")
        # The shortest decimal of each float32 (0.1307, not 0.13069999...): what the user gave.
        mean = np.asarray(tensors[INPUT_MEAN], np.float32).ravel()
        std = np.asarray(tensors[INPUT_STD], np.float32).ravel()
        return cls(tuple(float(str(v)) for v in mean), tuple(float(str(v)) for v in std))

    def agrees_with(self, other: Normalization) -> bool:
        """Equal as the file stores them (float32)."""
        return len(self.mean) == len(other.mean) and all(
            np.float32(a) == np.float32(b)
            for a, b in zip(self.mean + self.std, other.mean + other.std, strict=True)
        )


__all__ = ["INPUT_MEAN", "INPUT_STD", "RESERVED", "Normalization"]
