"""The weight ops of the graph, run through the compressed layers (EIE §III) or dense numpy.

Every weight is used through its kind's matrix view (``deepzip.kinds``), so every op is a product
of that matrix with a batch of columns (``parameters.product``); a compressed weight is never
decoded into a dense tensor:

- ``linear`` on any leading dimensions: the last axis is the columns' axis;
- ``conv1d`` / ``conv2d``: stride, asymmetric ``pads``, dilation and groups (a group is a block
  of rows, one layout each); a conv1d is a conv2d of height 1. In float32 they run **directly**
  (``conv``), without im2col: a compressed weight's matrix times contiguous runs of the input's
  zero-padded phases (for a **1x1** convolution, each sample's activation map as it lies), a
  plain 1x1 weight as one matmul, and a **depthwise** convolution (one input channel per group)
  from one layout of its whole ``(out, kh * kw)`` matrix (or its plain weight), each PE
  convolving its own channels' planes. A plain kxk weight, and fixed point, run as
  **im2col over the compressed weights**: the input's patches are the columns of the product,
  so zero patch values (a ReLU's) are skipped as EIE skips zero activations;
- ``conv_transpose2d``: the product over the input channels gives each input position's window,
  which ``col2im`` adds into the output (a group is a block of columns); the bias is a plain
  tensor, added after;
- ``embedding``: a lookup decodes only the columns (tokens) it needs (``decode_columns``).

Values are batch-first, as in torch. The products' columns are ordered sample by sample, so a
fused ReLU and the 16-bit fixed point's per-sample formats (``fixed_point``) apply per column.
``linear`` and ``conv2d`` also run in fixed point (a depthwise convolution then builds its
per-group layouts on first use); the others are float32 only.
"""

from __future__ import annotations

import numpy as np

from deepzip.engine import fixed_point as fx
from deepzip.engine.conv import depthwise_conv, pointwise_input, sparse_conv
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
        self.groups = node.attrs.get("groups", 1)
        shape = params.weight_shape(node.layer, "weight")
        self.kernel = (1, shape[2]) if node.op == "conv1d" else tuple(shape[2:4])
        # The direct float32 path (``conv``), if any: "depthwise" (one input channel per group),
        # "pointwise" (1x1) or "conv" (a compressed kxk weight); None: im2col (linear too).
        self.direct = None
        if node.op != "linear":
            if self.groups > 1 and shape[1] == 1:
                self.direct = "depthwise"
            elif self.kernel == (1, 1):
                self.direct = "pointwise"
            elif params.compressed(node.layer, "weight") is not None:
                self.direct = "conv"
        self._params = params
        # Depthwise: one layout of the whole matrix; otherwise one per group.
        self.parts = params.matrix(
            node.layer, "weight", node.op, 1 if self.direct == "depthwise" else self.groups
        )
        self._fixed: tuple[list[np.ndarray], int] | None = None

    def group_parts(self) -> list:
        """One matrix block per group (what im2col and fixed point run on)."""
        if self.direct != "depthwise":
            return self.parts
        node = self.node
        return self._params.matrix(node.layer, "weight", node.op, self.groups)

    # -- columns in, columns out -----------------------------------------------------------------

    def _columns(self, x: np.ndarray) -> tuple[list[np.ndarray], tuple]:
        """The product's inputs, one ``(cols, m)`` array per group, and what ``_assemble`` needs."""
        parts = self.group_parts()
        if self.node.op == "linear":
            cols = parts[0].shape[1]
            if x.ndim < 2 or x.shape[-1] != cols:
                raise ValueError(f"needs inputs (N, ..., {cols}), got shape {x.shape}")
            return [np.ascontiguousarray(x.reshape(-1, cols).T)], x.shape[:-1]
        x, stride, dilation, pads = self._spatial(x)
        groups = len(parts)
        kh, kw = self.kernel
        channels = parts[0].shape[1] // (kh * kw)
        if x.shape[1] != channels * groups:
            raise ValueError(f"needs {channels * groups} input channels, got {x.shape[1]}")
        columns = []
        for g in range(groups):
            patches, out_size = im2col(
                x[:, g * channels : (g + 1) * channels], self.kernel, stride, pads, dilation
            )
            columns.append(patches)
        return columns, (x.shape[0], *out_size)

    def _spatial(self, x: np.ndarray) -> tuple[np.ndarray, tuple, tuple, tuple]:
        """A convolution's input as ``(N, C, H, W)`` (a conv1d's with ``H = 1``), and its stride,
        dilation and pads (top, left, bottom, right) in two dimensions."""
        attrs = self.node.attrs
        if self.node.op == "conv1d":
            if x.ndim != 3:
                raise ValueError(f"needs inputs (N, C, L), got shape {x.shape}")
            stride, dilation = (1, *attrs["stride"]), (1, *attrs["dilation"])
            return x[:, :, None, :], stride, dilation, (0, attrs["pads"][0], 0, attrs["pads"][1])
        if x.ndim != 4:
            raise ValueError(f"needs inputs (N, C, H, W), got shape {x.shape}")
        return x, attrs["stride"], attrs["dilation"], attrs["pads"]

    def _assemble(self, ys: list[np.ndarray], layout: tuple) -> np.ndarray:
        y = ys[0] if len(ys) == 1 else np.concatenate(ys)
        if self.node.op == "linear":
            return y.T.reshape(*layout, y.shape[0])
        batch, oh, ow = layout
        y = y.reshape(y.shape[0], batch, oh, ow).transpose(1, 0, 2, 3)
        return y[:, :, 0, :] if self.node.op == "conv1d" else y

    # -- float32 and fixed point -----------------------------------------------------------------

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.direct is not None:
            return self._run_direct(x)
        columns, layout = self._columns(x)
        return self._assemble(
            [product(p, c, self.relu) for p, c in zip(self.parts, columns)], layout
        )

    def _run_direct(self, x: np.ndarray) -> np.ndarray:
        """A convolution without im2col (``conv``)."""
        maps, stride, dilation, pads = self._spatial(x)
        geometry = (self.kernel, tuple(stride), tuple(pads), tuple(dilation))
        if self.direct == "depthwise":
            if maps.shape[1] != self.groups:
                raise ValueError(f"needs {self.groups} input channels, got {maps.shape[1]}")
            y = depthwise_conv(self.parts[0], maps, *geometry, self.relu)
        elif isinstance(self.parts[0], DenseMatrix):
            y = self._pointwise_dense(maps, geometry[1], geometry[2])
        else:
            y = sparse_conv(self.parts, maps, *geometry, self.relu)
        return y[:, :, 0, :] if self.node.op == "conv1d" else y

    def _pointwise_dense(self, maps: np.ndarray, stride: tuple, pads: tuple) -> np.ndarray:
        """A plain 1x1 weight: one matmul per group over the maps ``(N, C, H * W)``."""
        maps = pointwise_input(maps, stride, pads)
        batch, channels, height, width = maps.shape
        cols = self.parts[0].shape[1]
        if channels != cols * len(self.parts):
            raise ValueError(f"needs {cols * len(self.parts)} input channels, got {channels}")
        flat = maps.reshape(batch, channels, height * width)
        ys = []
        for g, part in enumerate(self.parts):
            y = part.weight @ flat[:, g * cols : (g + 1) * cols]
            if part.bias is not None:
                y += part.bias[:, None]
            ys.append(np.maximum(y, 0, out=y) if self.relu else y)
        y = ys[0] if len(ys) == 1 else np.concatenate(ys, axis=1)
        return y.reshape(batch, -1, height, width)

    def fixed_weights(self) -> tuple[list[np.ndarray], int]:
        """The int16 codebook (compressed) or weight (plain) of each part, and their shared
        fractional bits."""
        if self._fixed is None:
            parts = self.group_parts()
            if isinstance(parts[0], DenseMatrix):
                _, frac = fx.quantize_weights(np.concatenate([p.weight.ravel() for p in parts]))
                weights = [np.rint(p.weight * 2.0**frac).astype(np.int16) for p in parts]
            else:
                codebook, frac = fx.quantize_weights(parts[0].codebook)  # parts share it
                weights = [codebook] * len(parts)
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
            for p, w, c in zip(self.group_parts(), weights, columns)
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
