"""The operations a stored network may contain: one table, read by every layer that needs it.

A network is a DAG of these ops (``deepzip.graph.ir``). Each entry says how many inputs and outputs
the op has, which attributes it takes (name and type, in file order), and whether it uses a
module's parameters (``layer``). The capture from ``torch.export`` (torch side), the file's network
record (container), the reader's semantic checks (``deepzip.graph.shapes``) and the engine's graph
runner all follow this table; adding an op adds a row here and its implementation in each of them.

Every op has PyTorch's semantics, on batch-first values: dimension 0 of every activation is the
batch, and attributes that name dimensions count it (``softmax(dim=1)`` acts on the first
per-sample dimension, as in torch). Attribute types:

- ``int``: a Python int, stored as a zigzag varint;
- ``ints``: a tuple of ints;
- ``float``: a Python float, stored as float32 (eps, slopes, scalars);
- ``floats``: a tuple of floats;
- ``bool``: stored as one byte;
- ``str``: a short UTF-8 string from a fixed vocabulary (``gelu``'s approximate, ``upsample``'s
  mode), or free text for ``unsupported``.

Ops that use parameters name a module in ``layer``; its tensors are found by the rules of
``deepzip.kinds.parameter_name``: a compressed layer of the model, or ``<layer>.<param>`` among its
plain tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

ATTR_TYPES = ("int", "ints", "float", "floats", "bool", "str")

#: Unbounded input count (``cat``, ``unsupported``).
MANY = 1 << 16


@dataclass(frozen=True)
class OpSpec:
    """One row of the op table.

    Attributes:
        name: the op's name in the graph (``"conv2d"``).
        code: its byte in the file's network record (never reused once published).
        inputs: ``(min, max)`` number of input values.
        outputs: ``(min, max)`` number of output values.
        attrs: ``(name, type)`` pairs, in file order; every attribute is required.
        layer: ``"required"``, ``"optional"`` or ``"none"``: whether the op uses a module's
            parameters (named by the node's ``layer``).
        weight_kind: for ops that run a compressed layer kind (``deepzip.kinds``), that kind.
    """

    name: str
    code: int
    inputs: tuple[int, int]
    outputs: tuple[int, int] = (1, 1)
    attrs: tuple[tuple[str, str], ...] = ()
    layer: str = "none"
    weight_kind: str | None = None

    def attr_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.attrs)


_I, _IS, _F, _FS, _B, _S = "int", "ints", "float", "floats", "bool", "str"

_TABLE = [
    # -- weight ops: a compressed layer kind (deepzip.kinds) or plain tensors --------------------
    OpSpec("linear", 0, (1, 1), layer="required", weight_kind="linear"),
    # pads: ONNX order, all "before" paddings then all "after" ones (conv2d: top, left, bottom,
    # right). torch's symmetric padding and "same" (possibly asymmetric) both map to it.
    OpSpec(
        "conv1d", 1, (1, 1),
        attrs=(("stride", _IS), ("pads", _IS), ("dilation", _IS), ("groups", _I)),
        layer="required", weight_kind="conv1d",
    ),
    OpSpec(
        "conv2d", 2, (1, 1),
        attrs=(("stride", _IS), ("pads", _IS), ("dilation", _IS), ("groups", _I)),
        layer="required", weight_kind="conv2d",
    ),
    OpSpec(
        "conv_transpose2d", 3, (1, 1),
        attrs=(
            ("stride", _IS), ("padding", _IS), ("output_padding", _IS), ("dilation", _IS),
            ("groups", _I),
        ),
        layer="required", weight_kind="conv_transpose2d",
    ),
    # Input: integer indices (int64) of any shape; output: that shape + (embedding_dim,).
    OpSpec("embedding", 4, (1, 1), layer="required", weight_kind="embedding"),
    # Inputs: x, or x, h0, c0. Outputs: output, h_n, c_n (torch.nn.LSTM's, flattened).
    # The weights are <layer>.weight_ih_l{k}[_reverse], weight_hh_..., bias_ih_..., bias_hh_...
    OpSpec(
        "lstm", 5, (1, 3), (3, 3),
        attrs=(
            ("hidden_size", _I), ("num_layers", _I), ("bidirectional", _B),
            ("batch_first", _B), ("has_biases", _B),
        ),
        layer="required", weight_kind="lstm",
    ),
    # Inference batch norm with <layer>.running_mean, .running_var and, when affine, .weight and
    # .bias. The capture folds it into a preceding conv/linear where it can.
    OpSpec("batch_norm", 6, (1, 1), attrs=(("eps", _F),), layer="required"),
    # <layer>.weight and <layer>.bias when elementwise affine; no layer otherwise.
    OpSpec(
        "layer_norm", 7, (1, 1), attrs=(("normalized_shape", _IS), ("eps", _F)), layer="optional"
    ),
    OpSpec("prelu", 8, (1, 1), layer="required"),  # <layer>.weight: (1,) or (channels,)
    # Any tensor of the model (a buffer or parameter used directly), with no batch dimension:
    # layer is the tensor's full name.
    OpSpec("constant", 9, (0, 0), layer="required"),
    # -- elementwise -------------------------------------------------------------------------------
    OpSpec("relu", 16, (1, 1)),
    OpSpec("relu6", 17, (1, 1)),
    OpSpec("leaky_relu", 18, (1, 1), attrs=(("negative_slope", _F),)),
    OpSpec("hardswish", 19, (1, 1)),
    OpSpec("sigmoid", 20, (1, 1)),
    OpSpec("tanh", 21, (1, 1)),
    OpSpec("gelu", 22, (1, 1), attrs=(("approximate", _S),)),  # "none" or "tanh"
    # Binary ops with torch broadcasting. With one input, the second operand is ``scalar``
    # (x + scalar, x - scalar, x * scalar, x / scalar); with two, ``scalar`` must be 0.0.
    OpSpec("add", 24, (1, 2), attrs=(("scalar", _F),)),
    OpSpec("sub", 25, (1, 2), attrs=(("scalar", _F),)),
    OpSpec("mul", 26, (1, 2), attrs=(("scalar", _F),)),
    OpSpec("div", 27, (1, 2), attrs=(("scalar", _F),)),
    OpSpec("softmax", 28, (1, 1), attrs=(("dim", _I),)),
    OpSpec("matmul", 29, (2, 2)),  # torch.matmul between two activations
    OpSpec("mean", 30, (1, 1), attrs=(("dims", _IS), ("keepdim", _B))),
    # -- pooling and resampling (NCHW) -------------------------------------------------------------
    # Outputs: the pooled values, and the int64 indices (flat over H*W, as torch) when asked for.
    OpSpec(
        "max_pool2d", 32, (1, 1), (1, 2),
        attrs=(
            ("kernel", _IS), ("stride", _IS), ("padding", _IS), ("dilation", _IS),
            ("ceil_mode", _B),
        ),
    ),
    # Inputs: values, indices. output_size: the (H, W) of the unpooled map.
    OpSpec("max_unpool2d", 33, (2, 2), attrs=(("output_size", _IS),)),
    # divisor_override 0 means none (torch's None).
    OpSpec(
        "avg_pool2d", 34, (1, 1),
        attrs=(
            ("kernel", _IS), ("stride", _IS), ("padding", _IS), ("ceil_mode", _B),
            ("count_include_pad", _B), ("divisor_override", _I),
        ),
    ),
    OpSpec("adaptive_avg_pool2d", 35, (1, 1), attrs=(("output_size", _IS),)),
    # mode "nearest" or "bilinear"; size: the output (H, W); scales: torch's scale factors, or
    # 0.0 where the scale is taken from the sizes (torch's scale_factor=None).
    OpSpec(
        "upsample", 36, (1, 1),
        attrs=(("mode", _S), ("size", _IS), ("scales", _FS), ("align_corners", _B)),
    ),
    # -- shape -------------------------------------------------------------------------------------
    OpSpec("flatten", 40, (1, 1), attrs=(("start_dim", _I), ("end_dim", _I))),
    # shape: the per-sample shape (the batch dimension is kept and not listed); one -1 at most.
    OpSpec("reshape", 41, (1, 1), attrs=(("shape", _IS),)),
    OpSpec("permute", 42, (1, 1), attrs=(("dims", _IS),)),  # dims[0] must be 0 (the batch)
    OpSpec("transpose", 43, (1, 1), attrs=(("dim0", _I), ("dim1", _I))),
    OpSpec("cat", 44, (1, MANY), attrs=(("dim", _I),)),
    OpSpec("select", 45, (1, 1), attrs=(("dim", _I), ("index", _I))),
    # end is clamped to the size, as in torch (a huge end means "to the end").
    OpSpec("slice", 46, (1, 1), attrs=(("dim", _I), ("start", _I), ("end", _I), ("step", _I))),
    OpSpec("squeeze", 47, (1, 1), attrs=(("dim", _I),)),
    OpSpec("unsqueeze", 48, (1, 1), attrs=(("dim", _I),)),
    # -- not runnable ------------------------------------------------------------------------------
    # An op the capture found but deepzip cannot run: kept so that the file says what and where
    # (target: the ATen op, "aten.grid_sampler_2d.default"; module: the module it came from).
    OpSpec(
        "unsupported", 63, (0, MANY), (0, MANY), attrs=(("target", _S), ("module", _S))
    ),
]  # fmt: skip

OPS: dict[str, OpSpec] = {spec.name: spec for spec in _TABLE}
OPS_BY_CODE: dict[int, OpSpec] = {spec.code: spec for spec in _TABLE}

assert len(OPS) == len(_TABLE) and len(OPS_BY_CODE) == len(_TABLE)
assert all(t in ATTR_TYPES for spec in _TABLE for _, t in spec.attrs)

#: Ops that run a compressed layer kind, by kind.
WEIGHT_OPS = {spec.weight_kind: spec.name for spec in _TABLE if spec.weight_kind is not None}
