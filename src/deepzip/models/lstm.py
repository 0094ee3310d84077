"""An LSTM image classifier, the stand-in for NeuralTalk's LSTM (Deep Compression §6.4, EIE's
NT-LSTM benchmark): the image is read row by row as a sequence (28 steps of 28 pixels for MNIST),
one LSTM layer (Hochreiter & Schmidhuber 1997) carries it, and a linear layer classifies the last
hidden state.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["RowLSTM", "lstm"]


class RowLSTM(nn.Module):
    """Input (N, 1, rows, columns), output (N, num_classes) logits."""

    def __init__(self, columns: int = 28, hidden: int = 128, num_classes: int = 10) -> None:
        super().__init__()
        self.lstm = nn.LSTM(columns, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.flatten(1, 2)  # (N, 1, rows, columns) → (N, rows, columns): one step per row
        outputs, _ = self.lstm(rows)
        return self.fc(outputs[:, -1])


def lstm(num_classes: int = 10) -> RowLSTM:
    """Row-by-row LSTM for (N, 1, 28, 28), 128 hidden units: 82,186 parameters."""
    return RowLSTM(28, 128, num_classes)
