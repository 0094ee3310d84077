"""Published parameter counts that the published-size networks are checked against.

A count printed exactly (SqueezeNet 1.0's 1,248,424) must be met exactly; a count printed rounded
(ENet's "0.37M") must be met within that rounding, i.e. within half a unit of its last digit.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class ReferenceCount:
    """A network's published number of parameters (weights, biases, BatchNorm scale and shift,
    PReLU slopes: everything trainable; BatchNorm's running statistics are not parameters).

    ``rounded_to`` is the unit of the printed figure's last digit: 1 for an exact count, 10_000
    for "0.37M", 100_000 for "4.2M".
    """

    parameters: int
    rounded_to: int
    source: str

    def matches(self, count: int) -> bool:
        """Whether ``count`` rounds to the published figure (equals it, for an exact count)."""
        return 2 * abs(count - self.parameters) <= self.rounded_to


def count_parameters(model: nn.Module) -> int:
    """The number of trainable parameters of ``model``, the figure the papers print."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
