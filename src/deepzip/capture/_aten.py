"""The ATen op → graph op table of the capture (``deepzip.graph.ops``).

Each handler receives one ATen call of an exported program (before decompositions), with its
arguments bound to the schema's names and defaults filled in, and returns the graph node it
becomes; an argument value that the graph op cannot express raises ``Unsupported`` with the reason
in words, and the capture records an ``unsupported`` node instead. Every argument of every handled
schema is either mapped to an attribute or checked against the value the engine implements.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import fx, nn

from deepzip.capture._call import Call, Mapped, Unsupported, ints, require
from deepzip.capture._shapes import SHAPE_HANDLERS


def _conv(call: Call, dims: int) -> Mapped:
    module_type = nn.Conv2d if dims == 2 else nn.Conv1d
    layer = call.params(module_type, weight=call["weight"], bias=call["bias"])
    stride, dilation = ints(call["stride"], dims), ints(call["dilation"], dims)
    padding = call["padding"]
    if isinstance(padding, str):
        kernel = call.shape(call["weight"])[2:]
        if padding == "valid":
            pads = (0,) * (2 * dims)
        else:  # "same": torch pads total // 2 before and the rest after
            total = [d * (k - 1) for d, k in zip(dilation, kernel)]
            pads = tuple(t // 2 for t in total) + tuple(t - t // 2 for t in total)
    else:
        pads = ints(padding, dims) * 2
    attrs = {"stride": stride, "pads": pads, "dilation": dilation, "groups": int(call["groups"])}
    return Mapped(f"conv{dims}d", (call.value("input"),), attrs, layer)


def _conv_transpose2d(call: Call) -> Mapped:
    layer = call.params(nn.ConvTranspose2d, weight=call["weight"], bias=call["bias"])
    attrs = {
        "stride": ints(call["stride"], 2),
        "padding": ints(call["padding"], 2),
        "output_padding": ints(call["output_padding"], 2),
        "dilation": ints(call["dilation"], 2),
        "groups": int(call["groups"]),
    }
    return Mapped("conv_transpose2d", (call.value("input"),), attrs, layer)


def _linear(call: Call) -> Mapped:
    layer = call.params(nn.Linear, weight=call["weight"], bias=call["bias"])
    return Mapped("linear", (call.value("input"),), {}, layer)


def _embedding(call: Call) -> Mapped:
    # padding_idx, scale_grad_by_freq and sparse only change the gradient.
    layer = call.params(nn.Embedding, weight=call["weight"])
    return Mapped("embedding", (call.value("indices"),), {}, layer)


def _lstm(call: Call) -> Mapped:
    require(call, train=False)
    params = call["params"]
    module_name = call.walk.parameter_name(params[0]) if params else None
    module = call.walk.module(module_name.rsplit(".", 1)[0]) if module_name else None
    if not isinstance(module, nn.LSTM):
        raise Unsupported("its weights are not an nn.LSTM's own parameters")
    if module.proj_size:
        raise Unsupported(f"proj_size={module.proj_size} (deepzip runs LSTMs without projections)")
    prefix = module_name.rsplit(".", 1)[0]
    names = [call.walk.parameter_name(p) for p in params]
    if names != [f"{prefix}.{n}" for n in module._flat_weights_names]:
        raise Unsupported("its weights are not the LSTM's own parameters in their order")
    hx = call["hx"]
    inputs = [call.value("input")]
    if not all(h.op == "call_function" and "aten.zeros" in str(h.target) for h in hx):
        inputs += [call.walk.value_of(h) for h in hx]
    attrs = {
        "hidden_size": int(module.hidden_size),
        "num_layers": int(call["num_layers"]),
        "bidirectional": bool(call["bidirectional"]),
        "batch_first": bool(call["batch_first"]),
        "has_biases": bool(call["has_biases"]),
    }
    return Mapped("lstm", tuple(inputs), attrs, prefix, outputs=3)


def _batch_norm(call: Call) -> Mapped:
    if call["running_mean"] is None or call["running_var"] is None:
        raise Unsupported("no running statistics (track_running_stats=False normalises by batch)")
    require(call, training=False)
    layer = call.params(
        nn.modules.batchnorm._BatchNorm, weight=call["weight"], bias=call["bias"],
        running_mean=call["running_mean"], running_var=call["running_var"],
    )  # fmt: skip
    return Mapped("batch_norm", (call.value("input"),), {"eps": float(call["eps"])}, layer)


def _layer_norm(call: Call) -> Mapped:
    layer = None
    if call["weight"] is not None or call["bias"] is not None:
        layer = call.params(nn.LayerNorm, weight=call["weight"], bias=call["bias"])
    attrs = {"normalized_shape": ints(call["normalized_shape"], 1), "eps": float(call["eps"])}
    return Mapped("layer_norm", (call.value("input"),), attrs, layer)


def _prelu(call: Call) -> Mapped:
    layer = call.params(nn.PReLU, weight=call["weight"])
    return Mapped("prelu", (call.value("self"),), {}, layer)


def _unary(op: str) -> Callable[[Call], Mapped]:
    return lambda call: Mapped(op, (call.value("self"),))


def _hardtanh(call: Call) -> Mapped:
    if (call["min_val"], call["max_val"]) != (0, 6):
        raise Unsupported(
            f"min_val={call['min_val']}, max_val={call['max_val']} (deepzip runs relu6: 0, 6)"
        )
    return Mapped("relu6", (call.value("self"),))


def _binary(op: str) -> Callable[[Call], Mapped]:
    def handler(call: Call) -> Mapped:
        if "alpha" in call.args:
            require(call, alpha=1)
        if "rounding_mode" in call.args:
            require(call, rounding_mode=None)
        other = call["other"]
        if isinstance(other, fx.Node):
            return Mapped(op, (call.value("self"), call.walk.value_of(other)), {"scalar": 0.0})
        if isinstance(other, bool) or not isinstance(other, (int, float)):
            raise Unsupported(f"other={other!r} is not a number")
        return Mapped(op, (call.value("self"),), {"scalar": float(other)})

    return handler


def _softmax(call: Call) -> Mapped:
    require(call, dtype=None)
    return Mapped("softmax", (call.value("self"),), {"dim": int(call["dim"])})


def _mean(call: Call) -> Mapped:
    require(call, dtype=None)
    ndim = len(call.shape(call["self"]))
    dims = call["dim"]
    if not dims or any(d % ndim == 0 for d in dims):
        raise Unsupported("it averages over the batch dimension")
    return Mapped(
        "mean", (call.value("self"),), {"dims": ints(dims, 1), "keepdim": bool(call["keepdim"])}
    )


def _max_pool2d(call: Call) -> Mapped:
    kernel = ints(call["kernel_size"], 2)
    attrs = {
        "kernel": kernel,
        "stride": ints(call["stride"], 2) if call["stride"] else kernel,
        "padding": ints(call["padding"], 2),
        "dilation": ints(call["dilation"], 2),
        "ceil_mode": bool(call["ceil_mode"]),
    }
    # With indices: two outputs when the indices are used, else the pooled values only.
    outputs = 1
    if isinstance(call.node.meta["val"], (tuple, list)):
        outputs = 2 if any(u.args[1] == 1 for u in call.node.users) else 1
    return Mapped("max_pool2d", (call.value("self"),), attrs, outputs=outputs)


def _max_unpool2d(call: Call) -> Mapped:
    attrs = {"output_size": ints(call["output_size"], 2)}
    return Mapped("max_unpool2d", (call.value("self"), call.value("indices")), attrs)


def _avg_pool2d(call: Call) -> Mapped:
    kernel = ints(call["kernel_size"], 2)
    divisor = call["divisor_override"]
    attrs = {
        "kernel": kernel,
        "stride": ints(call["stride"], 2) if call["stride"] else kernel,
        "padding": ints(call["padding"], 2),
        "ceil_mode": bool(call["ceil_mode"]),
        "count_include_pad": bool(call["count_include_pad"]),
        "divisor_override": 0 if divisor is None else int(divisor),
    }
    return Mapped("avg_pool2d", (call.value("self"),), attrs)


def _adaptive_avg_pool2d(call: Call) -> Mapped:
    size = tuple(int(s) for s in call.shape()[-2:])
    return Mapped("adaptive_avg_pool2d", (call.value("self"),), {"output_size": size})


def _upsample(mode: str) -> Callable[[Call], Mapped]:
    def handler(call: Call) -> Mapped:
        name = "input" if "input" in call.args else "self"
        if "scale_factors" in call.args:
            scales = call["scale_factors"]
        else:
            pair = (call["scales_h"], call["scales_w"])
            scales = None if pair == (None, None) else pair
        if scales is not None and any(s is None for s in scales):
            raise Unsupported(f"scales {scales} (both or neither)")
        attrs = {
            "mode": mode,
            "size": tuple(int(s) for s in call.shape()[-2:]),
            "scales": (0.0, 0.0) if scales is None else tuple(float(s) for s in scales),
            "align_corners": bool(call.args.get("align_corners") or False),
        }
        return Mapped("upsample", (call.value(name),), attrs)

    return handler


def _matmul(call: Call) -> Mapped:
    return Mapped("matmul", (call.value("self"), call.walk.value_of(call["other"])))


def _dropout(call: Call) -> Mapped:
    require(call, train=False)
    return Mapped("identity", (call.value("input"),))


def _pad(call: Call) -> Mapped:
    raise Unsupported(
        f"mode={call['mode']!r}, pad={list(call['pad'])}: deepzip pads with zeros inside a "
        "convolution only (padding_mode='zeros')"
    )


def _identity(call: Call) -> Mapped:
    return Mapped("identity", (call.value("self"),))


#: ATen overload (``str(target)`` without the ``aten.`` prefix) → handler. In-place overloads
#: (``relu_``) are handled as their functional twin by the capture.


HANDLERS: dict[str, Callable[[Call], Mapped | list[Mapped]]] = {
    "linear.default": _linear,
    "conv1d.default": lambda c: _conv(c, 1),
    "conv1d.padding": lambda c: _conv(c, 1),
    "conv2d.default": lambda c: _conv(c, 2),
    "conv2d.padding": lambda c: _conv(c, 2),
    "conv_transpose2d.input": _conv_transpose2d,
    "embedding.default": _embedding,
    "lstm.input": _lstm,
    "batch_norm.default": _batch_norm,
    "layer_norm.default": _layer_norm,
    "prelu.default": _prelu,
    "relu.default": _unary("relu"),
    "relu6.default": _unary("relu6"),
    "hardtanh.default": _hardtanh,
    "leaky_relu.default": lambda c: Mapped(
        "leaky_relu", (c.value("self"),), {"negative_slope": float(c["negative_slope"])}
    ),
    "hardswish.default": _unary("hardswish"),
    "sigmoid.default": _unary("sigmoid"),
    "tanh.default": _unary("tanh"),
    "gelu.default": lambda c: Mapped(
        "gelu", (c.value("self"),), {"approximate": str(c["approximate"])}
    ),
    **{f"{op}.{overload}": _binary(op) for op in ("add", "sub", "mul", "div")
       for overload in ("Tensor", "Scalar")},
    "softmax.int": _softmax,
    "matmul.default": _matmul,
    "bmm.default": _matmul,
    "mm.default": _matmul,
    "mean.dim": _mean,
    "max_pool2d.default": _max_pool2d,
    "max_pool2d_with_indices.default": _max_pool2d,
    "max_unpool2d.default": _max_unpool2d,
    "avg_pool2d.default": _avg_pool2d,
    "adaptive_avg_pool2d.default": _adaptive_avg_pool2d,
    "upsample_nearest2d.vec": _upsample("nearest"),
    "upsample_nearest2d.default": _upsample("nearest"),
    "upsample_bilinear2d.vec": _upsample("bilinear"),
    "upsample_bilinear2d.default": _upsample("bilinear"),
    "pad.default": _pad,
    **SHAPE_HANDLERS,
    # The identity at inference: these values are the input's.
    "dropout.default": _dropout,
    "feature_dropout.default": _dropout,
    "alpha_dropout.default": _dropout,
    "feature_alpha_dropout.default": _dropout,
    "clone.default": _identity,
    "contiguous.default": _identity,
    "alias.default": _identity,
    "detach.default": _identity,
    "lift_fresh_copy.default": _identity,
}  # fmt: skip
