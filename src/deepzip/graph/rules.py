"""Per-op rules of ``deepzip.graph.shapes``: parameter values, module parameters, shapes.

Each op of ``ops.OPS`` has a ``Rule``: ``attrs`` checks the attribute values alone, ``params``
checks the module's parameters (and returns their shapes), ``infer`` checks the input values'
shapes and dtypes and returns the outputs'. Shape arithmetic follows torch (``torch.nn.functional``
and ATen's shape checks), on batch-first values whose batch dimension is ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from deepzip.graph.ops import OPS
from deepzip.graph.shapes import Check, Value
from deepzip.graph.shapes import show_shape as _show

Infer = Callable[..., list]


def _none(check: Check):
    return None


@dataclass(frozen=True)
class Rule:
    attrs: Callable[[Check], None] = _none
    params: Callable[[Check], object] = _none
    infer: Infer = lambda check, inputs, params, values, producers: [inputs[0]]


# --- helpers ----------------------------------------------------------------------------------


def _float(check: Check, value: Value, what: str = "input") -> None:
    if value.dtype != "float32":
        raise check.fail(f"{what} must be float32, got {value.dtype}", "inputs")


def _rank(check: Check, value: Value, ranks: tuple[int, ...] | range) -> None:
    if len(value.shape) not in ranks:
        raise check.fail(
            f"expects an input of {'/'.join(map(str, ranks))} dimensions, got {_show(value.shape)}",
            "inputs",
        )


def _batch_first(check: Check, value: Value) -> None:
    if value.batch not in (0, None):
        raise check.fail(f"needs the batch dimension first, got {_show(value.shape)}", "inputs")


def _spatial(check: Check, value: Value, rank: int) -> tuple[int, ...]:
    """Checks an (N, C, spatial...) input, float32, batch first (or without a batch dimension:
    then torch takes dimension 0 as the batch); its channels and spatial dims."""
    _float(check, value)
    _rank(check, value, (rank,))
    _batch_first(check, value)
    return tuple(value.shape[1:])  # type: ignore[return-value]


def _out_size(check: Check, size: int, before: int, after: int, kernel: int, stride: int,
              dilation: int, ceil: bool = False) -> int:  # fmt: skip
    span = size + before + after - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil else 0)) // stride + 1 if span >= 0 else 0
    if ceil and out > 0 and (out - 1) * stride >= size + before:
        out -= 1  # torch: the last window must start inside the input or the left padding
    if out < 1:
        raise check.fail(f"the output size comes out {out} for an input of size {size}", "inputs")
    return out


def _broadcast(check: Check, a: tuple, b: tuple) -> tuple:
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            what = "the batch dimension" if None in (x, y) else f"{x} and {y}"
            raise check.fail(f"cannot broadcast {_show(a)} with {_show(b)} ({what})", "inputs")
    shape = tuple(reversed(out))
    if shape.count(None) > 1:
        raise check.fail(f"the batch dimensions of {_show(a)} and {_show(b)} differ", "inputs")
    return shape


# --- weight ops -------------------------------------------------------------------------------


def _linear_params(check: Check):
    out, features = check.param("weight", 2)
    bias = check.param("bias", required=False)
    if bias is not None and bias != (out,):
        raise check.fail(f"bias shape {bias} must be ({out},)", "layer")
    return features, out


def _linear(check, inputs, params, values, producers):
    (x,), (features, out) = inputs, params
    _float(check, x)
    if len(x.shape) < 1 or x.shape[-1] != features:
        raise check.fail(f"expects {features} input features, got {_show(x.shape)}", "inputs")
    return [Value((*x.shape[:-1], out))]


def _conv_attrs(n: int) -> Callable[[Check], None]:
    def attrs(check: Check) -> None:
        check.ints("stride", n, 1)
        check.ints("pads", 2 * n, 0)
        check.ints("dilation", n, 1)
        check.int("groups", 1)

    return attrs


def _conv_params(n: int, transposed: bool = False) -> Callable[[Check], object]:
    def params(check: Check):
        weight = check.param("weight", n + 2)
        if min(weight) < 1:
            raise check.fail(f"weight shape {weight} has an empty dimension", "layer")
        groups = check.attr("groups")
        if weight[0] % groups:
            what = "input" if transposed else "output"
            raise check.fail(
                f"groups {groups} does not divide the {weight[0]} {what} channels", "attrs.groups"
            )
        out = weight[1] * groups if transposed else weight[0]
        bias = check.param("bias", required=False)
        if bias is not None and bias != (out,):
            raise check.fail(f"bias shape {bias} must be ({out},)", "layer")
        return weight

    return params


def _conv(n: int) -> Infer:
    def infer(check, inputs, weight, values, producers):
        channels, *spatial = _spatial(check, inputs[0], n + 2)
        groups = check.attr("groups")
        if channels != weight[1] * groups:
            raise check.fail(
                f"expects {weight[1] * groups} input channels, got {_show(inputs[0].shape)}",
                "inputs",
            )
        stride, pads, dilation = (check.attr(k) for k in ("stride", "pads", "dilation"))
        sizes = tuple(
            _out_size(check, spatial[d], pads[d], pads[n + d], weight[2 + d], stride[d],
                      dilation[d])
            for d in range(n)
        )  # fmt: skip
        return [Value((inputs[0].shape[0], weight[0], *sizes))]

    return infer


def _conv_transpose_attrs(check: Check) -> None:
    stride = check.ints("stride", 2, 1)
    check.ints("padding", 2, 0)
    dilation = check.ints("dilation", 2, 1)
    output_padding = check.ints("output_padding", 2, 0)
    check.int("groups", 1)
    for d in range(2):
        if output_padding[d] >= max(stride[d], dilation[d]):
            raise check.fail(
                f"output_padding {output_padding} must be smaller than the stride or the dilation",
                "attrs.output_padding",
            )


def _conv_transpose(check, inputs, weight, values, producers):
    channels, height, width = _spatial(check, inputs[0], 4)
    if channels != weight[0]:
        raise check.fail(
            f"expects {weight[0]} input channels, got {_show(inputs[0].shape)}", "inputs"
        )
    stride, padding, out_pad, dilation = (
        check.attr(k) for k in ("stride", "padding", "output_padding", "dilation")
    )
    sizes = []
    for d, size in enumerate((height, width)):
        out = (size - 1) * stride[d] - 2 * padding[d] + dilation[d] * (weight[2 + d] - 1)
        out += out_pad[d] + 1
        if out < 1:
            raise check.fail(f"the output size comes out {out}", "inputs")
        sizes.append(out)
    return [Value((inputs[0].shape[0], weight[1] * check.attr("groups"), *sizes))]


def _embedding(check, inputs, weight, values, producers):
    (x,) = inputs
    if x.dtype != "int64":
        raise check.fail(f"expects int64 indices, got {x.dtype}", "inputs")
    return [Value((*x.shape, weight[1]))]


def _lstm_attrs(check: Check) -> None:
    check.int("hidden_size", 1)
    check.int("num_layers", 1)
    if len(check.node.inputs) == 2:
        raise check.fail("takes x, or x, h0 and c0: got 2 inputs", "inputs")


def _lstm_params(check: Check):
    hidden, layers = check.attr("hidden_size"), check.attr("num_layers")
    suffixes = ("", "_reverse") if check.attr("bidirectional") else ("",)
    input_size = check.param("weight_ih_l0", 2)[1]
    for k in range(layers):
        for s in suffixes:
            expected_in = input_size if k == 0 else hidden * len(suffixes)
            want = {f"weight_ih_l{k}{s}": (4 * hidden, expected_in),
                    f"weight_hh_l{k}{s}": (4 * hidden, hidden)}  # fmt: skip
            if check.attr("has_biases"):
                want |= {f"bias_ih_l{k}{s}": (4 * hidden,), f"bias_hh_l{k}{s}": (4 * hidden,)}
            for param, shape in want.items():
                got = check.param(param)
                if got != shape:
                    raise check.fail(f"{param} must have shape {shape}, got {got}", "layer")
    extra = [f"weight_ih_l{layers}", "weight_hr_l0"] + ([] if len(suffixes) == 2 else
                                                         ["weight_ih_l0_reverse"])  # fmt: skip
    for param in extra:
        if check.param(param, required=False) is not None:
            raise check.fail(f"has {param}, which its attributes do not use", "layer")
    return input_size


def _lstm(check, inputs, input_size, values, producers):
    x = inputs[0]
    _float(check, x)
    _rank(check, x, (3,))
    batch_first = check.attr("batch_first")
    position = 0 if batch_first else 1
    if x.shape[position] is None and x.shape[1 - position] is not None:
        length = x.shape[1 - position]
    else:
        raise check.fail(
            f"needs the batch dimension at {position} (batch_first {batch_first}), got "
            f"{_show(x.shape)}",
            "inputs",
        )
    if x.shape[2] != input_size:
        raise check.fail(f"expects input size {input_size}, got {_show(x.shape)}", "inputs")
    directions = 2 if check.attr("bidirectional") else 1
    hidden = check.attr("hidden_size")
    state = Value((directions * check.attr("num_layers"), None, hidden))
    for h in inputs[1:]:
        _float(check, h)
        if h.shape != state.shape:
            raise check.fail(
                f"h0 and c0 must have shape {_show(state.shape)}, got {_show(h.shape)}", "inputs"
            )
    out = (
        (None, length, directions * hidden) if batch_first else (length, None, directions * hidden)
    )
    return [Value(out), state, state]


def _eps(check: Check) -> None:
    eps = check.attr("eps")
    if not (math.isfinite(eps) and eps >= 0):
        raise check.fail(f"eps must be finite and >= 0, got {eps}", "attrs.eps")


def _batch_norm_params(check: Check):
    mean = check.param("running_mean", 1)
    for param, required in (("running_var", True), ("weight", False), ("bias", False)):
        shape = check.param(param, 1, required)
        if shape is not None and shape != mean:
            raise check.fail(f"{param} shape {shape} must be {mean}", "layer")
    return mean[0]


def _batch_norm(check, inputs, channels, values, producers):
    (x,) = inputs
    _float(check, x)
    _rank(check, x, range(2, 9))
    _batch_first(check, x)
    if x.shape[1] != channels:
        raise check.fail(f"expects {channels} channels, got {_show(x.shape)}", "inputs")
    return [x]


def _layer_norm_attrs(check: Check) -> None:
    if not check.attr("normalized_shape"):
        raise check.fail("normalized_shape must not be empty", "attrs.normalized_shape")
    check.ints("normalized_shape", None, 1)
    _eps(check)


def _layer_norm_params(check: Check):
    if check.node.layer is None:
        return None
    shape = tuple(check.attr("normalized_shape"))
    for param, required in (("weight", True), ("bias", False)):
        got = check.param(param, required=required)
        if got is not None and got != shape:
            raise check.fail(f"{param} shape {got} must be {shape}", "layer")
    return None


def _layer_norm(check, inputs, params, values, producers):
    (x,) = inputs
    _float(check, x)
    shape = tuple(check.attr("normalized_shape"))
    if x.shape[len(x.shape) - len(shape) :] != shape:
        raise check.fail(f"normalized_shape {shape} does not end {_show(x.shape)}", "inputs")
    return [x]


def _prelu(check, inputs, weight, values, producers):
    (x,) = inputs
    _float(check, x)
    if weight[0] != 1 and (len(x.shape) < 2 or x.shape[1] != weight[0]):
        raise check.fail(f"expects {weight[0]} channels (dim 1), got {_show(x.shape)}", "inputs")
    return [x]


def _constant_params(check: Check):
    """A constant names a whole tensor (``"encoder.scale"``): its module and parameter."""
    module, _, param = (check.node.layer or "").rpartition(".")
    shape = check.lookup(module, param)
    if shape is None:
        raise check.fail(f"needs the tensor {check.node.layer!r}, which the model lacks", "layer")
    return shape


def _constant(check, inputs, shape, values, producers):
    return [Value(tuple(shape))]


# --- elementwise, reductions ------------------------------------------------------------------


def _unary(check, inputs, params, values, producers):
    _float(check, inputs[0])
    return [inputs[0]]


def _finite(name: str) -> Callable[[Check], None]:
    def attrs(check: Check) -> None:
        if not math.isfinite(check.attr(name)):
            raise check.fail(f"{name} must be finite, got {check.attr(name)}", f"attrs.{name}")

    return attrs


def _vocabulary(name: str, words: tuple[str, ...]) -> Callable[[Check], None]:
    def attrs(check: Check) -> None:
        if check.attr(name) not in words:
            raise check.fail(f"{name} must be one of {words}, got {check.attr(name)!r}",
                             f"attrs.{name}")  # fmt: skip

    return attrs


def _binary_attrs(check: Check) -> None:
    if len(check.node.inputs) == 2 and check.attr("scalar") != 0.0:
        raise check.fail("scalar must be 0.0 with two inputs", "attrs.scalar")


def _binary(check, inputs, params, values, producers):
    for x in inputs:
        _float(check, x)
    if len(inputs) == 1:
        return [inputs[0]]
    return [Value(_broadcast(check, inputs[0].shape, inputs[1].shape))]


def _softmax(check, inputs, params, values, producers):
    _float(check, inputs[0])
    check.dim(inputs[0], "dim", check.attr("dim"))
    return [inputs[0]]


def _matmul(check, inputs, params, values, producers):
    a, b = inputs
    _float(check, a)
    _float(check, b)
    if not a.shape or not b.shape:
        raise check.fail("matmul needs inputs of at least one dimension", "inputs")
    k_a = a.shape[-1]
    k_b = b.shape[-2] if len(b.shape) > 1 else b.shape[0]
    if k_a is None or k_b is None or k_a != k_b:
        raise check.fail(f"cannot multiply {_show(a.shape)} by {_show(b.shape)}", "inputs")
    rows = a.shape[-2:-1]
    cols = b.shape[-1:] if len(b.shape) > 1 else ()
    batch = _broadcast(check, a.shape[:-2], b.shape[:-2])
    shape = batch + rows + cols
    if shape.count(None) > 1:
        raise check.fail("the batch dimensions of the operands differ", "inputs")
    return [Value(shape)]


def _mean_attrs(check: Check) -> None:
    dims = check.attr("dims")
    if not dims:
        raise check.fail("dims must not be empty (that would average the batch)", "attrs.dims")
    for d in dims:
        check.not_batch_literal("dims", d)


def _mean(check, inputs, params, values, producers):
    (x,) = inputs
    _float(check, x)
    dims = {check.dim(x, "dims", d) for d in check.attr("dims")}
    if len(dims) != len(check.attr("dims")):
        raise check.fail(f"dims {check.attr('dims')} repeat a dimension", "attrs.dims")
    keep = check.attr("keepdim")
    return [Value(tuple(1 if i in dims else s for i, s in enumerate(x.shape)
                        if keep or i not in dims))]  # fmt: skip


# --- pooling and resampling ---------------------------------------------------------------------


def _pool_attrs(dilation: bool) -> Callable[[Check], None]:
    def attrs(check: Check) -> None:
        kernel = check.ints("kernel", 2, 1)
        check.ints("stride", 2, 1)
        padding = check.ints("padding", 2, 0)
        if dilation:
            check.ints("dilation", 2, 1)
        else:
            check.int("divisor_override", 0)
        if any(p > k // 2 for p, k in zip(padding, kernel)):
            raise check.fail(
                f"padding {padding} must be at most half the kernel {kernel}", "attrs.padding"
            )

    return attrs


def _pool(check, inputs, params, values, producers):
    channels, height, width = _spatial(check, inputs[0], 4)
    kernel, stride, padding = (check.attr(k) for k in ("kernel", "stride", "padding"))
    dilation = check.node.attrs.get("dilation", (1, 1))
    ceil = check.attr("ceil_mode")
    sizes = tuple(
        _out_size(check, size, padding[d], padding[d], kernel[d], stride[d], dilation[d], ceil)
        for d, size in enumerate((height, width))
    )
    out = Value((inputs[0].shape[0], channels, *sizes))
    return [out, Value(out.shape, "int64")][: len(check.node.outputs)]


def infer_unpool_source(check: Check, producers: dict) -> None:
    """max_unpool2d's indices must be the indices output of a max_pool2d."""
    source = producers.get(check.node.inputs[1])
    if source is None or source.op != "max_pool2d" or source.outputs[1:] != (check.node.inputs[1],):
        raise check.fail("its indices must be the second output of a max_pool2d", "inputs")


def _unpool(check, inputs, params, values, producers):
    x, indices = inputs
    _spatial(check, x, 4)
    if indices.shape != x.shape or indices.dtype != "int64":
        raise check.fail(f"indices {_show(indices.shape)} must match {_show(x.shape)}", "inputs")
    pooled = values[producers[check.node.inputs[1]].inputs[0]]
    height, width = check.attr("output_size")
    if height * width < pooled.shape[2] * pooled.shape[3]:
        raise check.fail(
            f"output_size {(height, width)} cannot hold the indices of a "
            f"{pooled.shape[2]}x{pooled.shape[3]} map",
            "attrs.output_size",
        )
    return [Value((x.shape[0], x.shape[1], height, width))]


def _output_size(check: Check) -> None:
    check.ints("output_size", 2, 1)


def _adaptive(check, inputs, params, values, producers):
    channels, *_ = _spatial(check, inputs[0], 4)
    return [Value((inputs[0].shape[0], channels, *check.attr("output_size")))]


def _upsample_attrs(check: Check) -> None:
    _vocabulary("mode", ("nearest", "bilinear"))(check)
    check.ints("size", 2, 1)
    scales = check.attr("scales")
    if len(scales) != 2 or not all(math.isfinite(s) and s >= 0 for s in scales):
        raise check.fail(f"scales must be two finite values >= 0, got {scales}", "attrs.scales")
    if check.attr("mode") == "nearest" and check.attr("align_corners"):
        raise check.fail("align_corners applies to bilinear only", "attrs.align_corners")


def _upsample(check, inputs, params, values, producers):
    channels, *_ = _spatial(check, inputs[0], 4)
    return [Value((inputs[0].shape[0], channels, *check.attr("size")))]


# --- shape ops ----------------------------------------------------------------------------------


def _flatten(check, inputs, params, values, producers):
    (x,) = inputs
    if not x.shape:
        return [Value((1,), x.dtype)]
    start = check.dim(x, "start_dim", check.attr("start_dim"))
    end = check.dim(x, "end_dim", check.attr("end_dim"))
    if start > end:
        raise check.fail(f"start_dim {start} comes after end_dim {end}", "attrs.start_dim")
    if None in x.shape[start : end + 1]:
        raise check.fail("flattens the batch dimension", "attrs.start_dim")
    size = math.prod(x.shape[start : end + 1])
    return [Value((*x.shape[:start], size, *x.shape[end + 1 :]), x.dtype)]


def _reshape_attrs(check: Check) -> None:
    shape = check.ints("shape", None, -1)
    if list(shape).count(-1) > 1:
        raise check.fail(f"shape {shape} has more than one -1", "attrs.shape")


def _reshape(check, inputs, params, values, producers):
    (x,) = inputs
    if x.batch != 0:
        raise check.fail(f"needs the batch dimension first, got {_show(x.shape)}", "inputs")
    total = math.prod(x.shape[1:])
    shape = list(check.attr("shape"))
    known = math.prod(d for d in shape if d != -1)
    if -1 in shape:
        if known == 0 or total % known:
            raise check.fail(f"cannot reshape {_show(x.shape)} to (N, {shape})", "attrs.shape")
        shape[shape.index(-1)] = total // known
    elif known != total:
        raise check.fail(f"cannot reshape {_show(x.shape)} to (N, {shape})", "attrs.shape")
    return [Value((None, *shape), x.dtype)]


def _permute_attrs(check: Check) -> None:
    dims = check.attr("dims")
    if not dims or dims[0] != 0:
        raise check.fail(f"dims {dims} must keep dimension 0 (the batch) first", "attrs.dims")


def _permute(check, inputs, params, values, producers):
    (x,) = inputs
    dims = [check.dim(x, "dims", d, batch_ok=True) for d in check.attr("dims")]
    if sorted(dims) != list(range(len(x.shape))):
        raise check.fail(f"dims {check.attr('dims')} are not a permutation", "attrs.dims")
    return [Value(tuple(x.shape[d] for d in dims), x.dtype)]


def _transpose(check, inputs, params, values, producers):
    (x,) = inputs
    a = check.dim(x, "dim0", check.attr("dim0"), batch_ok=True)
    b = check.dim(x, "dim1", check.attr("dim1"), batch_ok=True)
    shape = list(x.shape)
    shape[a], shape[b] = shape[b], shape[a]
    return [Value(tuple(shape), x.dtype)]


def _literal(name: str) -> Callable[[Check], None]:
    def attrs(check: Check) -> None:
        check.not_batch_literal(name, check.attr(name))

    return attrs


def _cat(check, inputs, params, values, producers):
    first = inputs[0]
    dim = check.dim(first, "dim", check.attr("dim"))
    size = 0
    for x in inputs:
        if (
            x.dtype != first.dtype
            or len(x.shape) != len(first.shape)
            or any(a != b for i, (a, b) in enumerate(zip(x.shape, first.shape)) if i != dim)
        ):
            raise check.fail(f"cannot concatenate {_show(x.shape)} with {_show(first.shape)} "
                             f"along {dim}", "inputs")  # fmt: skip
        size += x.shape[dim]
    return [Value((*first.shape[:dim], size, *first.shape[dim + 1 :]), first.dtype)]


def _select(check, inputs, params, values, producers):
    (x,) = inputs
    dim = check.dim(x, "dim", check.attr("dim"))
    index = check.attr("index")
    if not -x.shape[dim] <= index < x.shape[dim]:
        raise check.fail(f"index {index} is out of range for size {x.shape[dim]}", "attrs.index")
    return [Value(x.shape[:dim] + x.shape[dim + 1 :], x.dtype)]


def _slice_attrs(check: Check) -> None:
    _literal("dim")(check)
    check.int("step", 1)


def _slice(check, inputs, params, values, producers):
    (x,) = inputs
    dim = check.dim(x, "dim", check.attr("dim"))
    size = x.shape[dim]
    start, end, step = check.attr("start"), check.attr("end"), check.attr("step")
    start = min(max(start + size if start < 0 else start, 0), size)
    end = min(max(end + size if end < 0 else end, 0), size)
    length = max(0, -(-(end - start) // step))
    if length == 0:
        raise check.fail(f"selects nothing of size {size}", "attrs.start")
    return [Value((*x.shape[:dim], length, *x.shape[dim + 1 :]), x.dtype)]


def _squeeze(check, inputs, params, values, producers):
    (x,) = inputs
    dim = check.dim(x, "dim", check.attr("dim"))
    if x.shape[dim] != 1:
        return [x]
    return [Value(x.shape[:dim] + x.shape[dim + 1 :], x.dtype)]


def _unsqueeze(check, inputs, params, values, producers):
    (x,) = inputs
    dim = check.dim(x, "dim", check.attr("dim"), extra=1)
    return [Value((*x.shape[:dim], 1, *x.shape[dim:]), x.dtype)]


def _weight(ndim: int) -> Callable[[Check], object]:
    return lambda check: check.param("weight", ndim)


RULES: dict[str, Rule] = {
    "linear": Rule(params=_linear_params, infer=_linear),
    "conv1d": Rule(_conv_attrs(1), _conv_params(1), _conv(1)),
    "conv2d": Rule(_conv_attrs(2), _conv_params(2), _conv(2)),
    "conv_transpose2d": Rule(_conv_transpose_attrs, _conv_params(2, True), _conv_transpose),
    "embedding": Rule(params=_weight(2), infer=_embedding),
    "lstm": Rule(_lstm_attrs, _lstm_params, _lstm),
    "batch_norm": Rule(_eps, _batch_norm_params, _batch_norm),
    "layer_norm": Rule(_layer_norm_attrs, _layer_norm_params, _layer_norm),
    "prelu": Rule(params=_weight(1), infer=_prelu),
    "constant": Rule(params=_constant_params, infer=_constant),
    "relu": Rule(infer=_unary),
    "relu6": Rule(infer=_unary),
    "leaky_relu": Rule(_finite("negative_slope"), infer=_unary),
    "hardswish": Rule(infer=_unary),
    "sigmoid": Rule(infer=_unary),
    "tanh": Rule(infer=_unary),
    "gelu": Rule(_vocabulary("approximate", ("none", "tanh")), infer=_unary),
    "add": Rule(_binary_attrs, infer=_binary),
    "sub": Rule(_binary_attrs, infer=_binary),
    "mul": Rule(_binary_attrs, infer=_binary),
    "div": Rule(_binary_attrs, infer=_binary),
    "softmax": Rule(_literal("dim"), infer=_softmax),
    "matmul": Rule(infer=_matmul),
    "mean": Rule(_mean_attrs, infer=_mean),
    "max_pool2d": Rule(_pool_attrs(True), infer=_pool),
    "max_unpool2d": Rule(_output_size, infer=_unpool),
    "avg_pool2d": Rule(_pool_attrs(False), infer=_pool),
    "adaptive_avg_pool2d": Rule(_output_size, infer=_adaptive),
    "upsample": Rule(_upsample_attrs, infer=_upsample),
    "flatten": Rule(_literal("start_dim"), infer=_flatten),
    "reshape": Rule(_reshape_attrs, infer=_reshape),
    "permute": Rule(_permute_attrs, infer=_permute),
    "transpose": Rule(infer=_transpose),
    "cat": Rule(_literal("dim"), infer=_cat),
    "select": Rule(_literal("dim"), infer=_select),
    "slice": Rule(_slice_attrs, infer=_slice),
    "squeeze": Rule(_literal("dim"), infer=_squeeze),
    "unsqueeze": Rule(infer=_unsqueeze),
    "unsupported": Rule(),
}

assert set(RULES) == set(OPS), "every op of the op table has a rule"
