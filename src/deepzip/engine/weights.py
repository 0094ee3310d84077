"""The weight ops of the graph, run through the compressed layers (EIE §III) or dense numpy.

Every weight is used through its kind's matrix view (``deepzip.kinds``), so every op is a product
of that matrix with a batch of columns (``parameters.product``); a compressed weight is never
decoded into a dense tensor:

- ``linear`` on any leading dimensions: the last axis is the columns' axis;
- ``conv1d`` / ``conv2d``: **im2col over the compressed weights**: the input's patches are the
  columns of the product, so zero patch values (a ReLU's) are skipped as EIE skips zero
  activations; stride, asymmetric ``pads``, dilation and groups (a group is a block of rows, one
  layout each; depthwise is one group per channel). A conv1d is a conv2d of height 1;
- ``conv_transpose2d``: the product over the input channels gives each input position's window,
  which ``col2im`` adds into the output (a group is a block of columns); the bias is a plain
  tensor, added after;
- ``embedding``: a lookup decodes only the columns (tokens) it needs (``decode_columns``).

Values are batch-first, as in torch. The products' columns are ordered sample by sample, so a
fused ReLU and the 16-bit fixed point's per-sample formats (``fixed_point``) apply per column.
``linear`` and ``conv2d`` also run in fixed point; the others are float32 only.
"""

from __future__ import annotations

import numpy as np

from deepzip.engine import fixed_point as fx
from deepzip.engine.parameters import DenseMatrix, Parameters, product, product_fixed16
from deepzip.engine.product import decode_columns
from deepzip.engine.spatial import col2im, im2col
from deepzip.graph import Node


class MatrixOp:
    """``linear``, ``conv1d`` or ``conv2d``: one product per block of rows, bias and an optional
    fused ReLU in the kernel's epilogue."""

    def __init__(self, node: Node, params: Parameters) -> None:
        self.node = node
        self.relu = False
        groups = node.attrs.get("groups", 1)
        self.parts = params.matrix(node.layer, "weight", node.op, groups)
        shape = params.weight_shape(node.layer, "weight")
        self.kernel = (1, shape[2]) if node.op == "conv1d" else tuple(shape[2:4])
        self._fixed: tuple[list[np.ndarray], int] | None = None

    # -- columns in, columns out -----------------------------------------------------------------

    def _columns(self, x: np.ndarray) -> tuple[list[np.ndarray], tuple]:
        """The product's inputs, one ``(cols, m)`` array per group, and what ``_assemble`` needs."""
        if self.node.op == "linear":
            cols = self.parts[0].shape[1]
            if x.ndim < 2 or x.shape[-1] != cols:
                raise ValueError(f"needs inputs (N, ..., {cols}), got shape {x.shape}")
            return [np.ascontiguousarray(x.reshape(-1, cols).T)], x.shape[:-1]
        attrs = self.node.attrs
        if self.node.op == "conv1d":
            if x.ndim != 3:
                raise ValueError(f"needs inputs (N, C, L), got shape {x.shape}")
            x = x[:, :, None, :]
            stride, dilation = (1, *attrs["stride"]), (1, *attrs["dilation"])
            pads = (0, attrs["pads"][0], 0, attrs["pads"][1])
        else:
            if x.ndim != 4:
                raise ValueError(f"needs inputs (N, C, H, W), got shape {x.shape}")
            stride, dilation, pads = attrs["stride"], attrs["dilation"], attrs["pads"]
        groups = len(self.parts)
        kh, kw = self.kernel
        channels = self.parts[0].shape[1] // (kh * kw)
        if x.shape[1] != channels * groups:
            raise ValueError(f"needs {channels * groups} input channels, got {x.shape[1]}")
        columns = []
        for g in range(groups):
            patches, out_size = im2col(
                x[:, g * channels : (g + 1) * channels], self.kernel, stride, pads, dilation
            )
            columns.append(patches)
        return columns, (x.shape[0], *out_size)

    def _assemble(self, ys: list[np.ndarray], layout: tuple) -> np.ndarray:
        y = ys[0] if len(ys) == 1 else np.concatenate(ys)
        if self.node.op == "linear":
            return y.T.reshape(*layout, y.shape[0])
        batch, oh, ow = layout
        y = y.reshape(y.shape[0], batch, oh, ow).transpose(1, 0, 2, 3)
        return y[:, :, 0, :] if self.node.op == "conv1d" else y

    # -- float32 and fixed point -----------------------------------------------------------------

    def run(self, x: np.ndarray) -> np.ndarray:
        columns, layout = self._columns(np.asarray(x, dtype=np.float32))
        return self._assemble(
            [product(p, c, self.relu) for p, c in zip(self.parts, columns)], layout
        )

    def fixed_weights(self) -> tuple[list[np.ndarray], int]:
        """The int16 codebook (compressed) or weight (plain) of each part, and their shared
        fractional bits."""
        if self._fixed is None:
            if isinstance(self.parts[0], DenseMatrix):
                _, frac = fx.quantize_weights(
                    np.concatenate([p.weight.ravel() for p in self.parts])
                )
                weights = [np.rint(p.weight * 2.0**frac).astype(np.int16) for p in self.parts]
            else:
                codebook, frac = fx.quantize_weights(self.parts[0].codebook)  # parts share it
                weights = [codebook] * len(self.parts)
            self._fixed = (weights, frac)
        return self._fixed

    def run_fixed16(self, state: fx.Fixed) -> fx.Fixed:
        weights, weight_frac = self.fixed_weights()
        values, frac = state.int16(fx.ACCUMULATOR_FRACTIONAL_BITS - weight_frac)
        columns, layout = self._columns(values)
        per_sample = columns[0].shape[1] // values.shape[0]
        scales = np.repeat(fx.bias_scales(weight_frac, frac), per_sample)
        ys = [
            product_fixed16(p, w, c, scales, self.relu)
            for p, w, c in zip(self.parts, weights, columns)
        ]
        return fx.Fixed(self._assemble(ys, layout), frac + weight_frac)


class ConvTranspose2dOp:
    """``conv_transpose2d``: product over the input channels, then ``col2im``, then the bias."""

    def __init__(self, node: Node, params: Parameters) -> None:
        self.node = node
        self.parts = params.matrix(node.layer, "weight", node.op, node.attrs["groups"], axis=1)
        self.kernel = tuple(params.weight_shape(node.layer, "weight")[2:4])
        self.bias = params.tensor(node.layer, "bias", required=False)

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        channels = self.parts[0].shape[1]
        if x.ndim != 4 or x.shape[1] != channels * len(self.parts):
            raise ValueError(
                f"needs inputs (N, {channels * len(self.parts)}, H, W), got shape {x.shape}"
            )
        batch, _, height, width = x.shape
        attrs = self.node.attrs
        outputs = []
        for g, part in enumerate(self.parts):
            block = x[:, g * channels : (g + 1) * channels]
            columns = np.ascontiguousarray(block.transpose(1, 0, 2, 3).reshape(channels, -1))
            windows = product(part, columns)
            outputs.append(
                col2im(
                    windows,
                    batch,
                    (height, width),
                    self.kernel,
                    attrs["stride"],
                    attrs["padding"],
                    attrs["output_padding"],
                    attrs["dilation"],
                )
            )
        y = outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=1)
        if self.bias is not None:
            if self.bias.shape != (y.shape[1],):
                raise ValueError(f"bias shape {self.bias.shape}, expected ({y.shape[1]},)")
            y += self.bias[:, None, None]
        return np.ascontiguousarray(y)


class EmbeddingOp:
    """``embedding``: the rows of the looked-up tokens; a compressed table decodes only the
    columns of its matrix view that the lookup names."""

    def __init__(self, node: Node, params: Parameters) -> None:
        self.node = node
        (self.part,) = params.matrix(node.layer, "weight", "embedding")

    def run(self, tokens: np.ndarray) -> np.ndarray:
        tokens = np.asarray(tokens)
        if not np.issubdtype(tokens.dtype, np.integer):
            raise ValueError(f"needs integer token indices, got {tokens.dtype}")
        count = self.part.shape[1]
        if tokens.size and (tokens.min() < 0 or tokens.max() >= count):
            raise ValueError(f"a token index is outside 0..{count - 1}")
        unique, inverse = np.unique(tokens.astype(np.int64), return_inverse=True)
        if isinstance(self.part, DenseMatrix):
            table = self.part.weight[:, unique]
        else:
            table = decode_columns(self.part, unique)  # (dim, unique tokens)
        return np.ascontiguousarray(table.T[inverse.reshape(tokens.shape)])
