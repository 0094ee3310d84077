"""Capturing a PyTorch model's network as a Graph (DESIGN.md: the network is a graph).

``capture(model, example_inputs)`` runs ``torch.export`` (non-strict, dimension 0 of every tensor
input dynamic) on a copy of the model in eval mode whose parametrizations (pruning masks, shared
weights) are baked into plain tensors, so parameters keep their unparametrized names
(``fc1.weight``). No decompositions run: ``nn.LSTM``, ``ConvTranspose2d``, ``Embedding``,
``BatchNorm2d`` and ``MaxUnpool2d`` each stay one ATen node. Each ATen node becomes one node of the
op table (``deepzip.graph.ops``) through the table in ``_aten``, every argument mapped to an
attribute or checked against what the engine implements; anything else becomes an
``unsupported`` node that names the ATen op, the reason and the module, and a line of
``CaptureResult.problems``. Dropout and identity-like nodes disappear, in-place ops become their
functional twins, values computed from the model's tensors alone are computed once and stored as
constants, and nodes no output needs are dropped.

``fold_batchnorm`` folds BatchNorm into the preceding convolution or linear layer (DESIGN.md: before
weight sharing, so that the shared values are the ones that run).
"""

from deepzip.capture._export import CaptureResult, capture, without_parametrizations
from deepzip.capture.fold import fold_batchnorm

__all__ = ["CaptureResult", "capture", "fold_batchnorm", "without_parametrizations"]
