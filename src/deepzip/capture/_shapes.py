"""Shape ops of the capture's ATen table: reshapes keep dimension 0 as the batch.

The graph's ``reshape`` takes the per-sample shape; a view or reshape whose output does not keep the
input's batch dimension (the same symbol or size) is refused, as are ops that split or move it.
"""

from __future__ import annotations

from collections.abc import Callable

from deepzip.capture._call import Call, Mapped, Unsupported


def _same_batch(call: Call) -> None:
    before, after = call.shape(call["self"]), call.shape()
    if not before or not after or str(before[0]) != str(after[0]):
        raise Unsupported(
            f"it reshapes {list(before)} to {list(after)}, merging or splitting the batch "
            "dimension (deepzip keeps dimension 0 as the batch)"
        )


def _flatten(call: Call) -> Mapped:
    ndim = len(call.shape(call["self"]))
    start, end = int(call["start_dim"]), int(call["end_dim"])
    if ndim and start % ndim == 0 and end % ndim != 0:
        _same_batch(call)  # raises: flattening the batch into the features
    return Mapped("flatten", (call.value("self"),), {"start_dim": start, "end_dim": end})


def _reshape(call: Call) -> Mapped:
    _same_batch(call)
    shape = call.shape()[1:]
    if not all(isinstance(s, int) for s in shape):
        raise Unsupported(f"per-sample shape {list(shape)} depends on the input")
    return Mapped("reshape", (call.value("self"),), {"shape": tuple(shape)})


def _permute(call: Call) -> Mapped:
    ndim = len(call.shape(call["self"]))
    dims = tuple(int(d) % ndim for d in call["dims"])
    if dims[0] != 0:
        raise Unsupported(f"dims={list(call['dims'])} moves the batch dimension")
    return Mapped("permute", (call.value("self"),), {"dims": dims})


def _transpose(call: Call) -> Mapped:
    attrs = {"dim0": int(call["dim0"]), "dim1": int(call["dim1"])}
    return Mapped("transpose", (call.value("self"),), attrs)


def _cat(call: Call) -> Mapped:
    values = tuple(call.walk.value_of(t) for t in call["tensors"])
    return Mapped("cat", values, {"dim": int(call["dim"])})


def _select(call: Call) -> Mapped:
    attrs = {"dim": int(call["dim"]), "index": int(call["index"])}
    return Mapped("select", (call.value("self"),), attrs)


def _slice(call: Call) -> Mapped:
    start, end = call["start"], call["end"]
    if not all(isinstance(v, int) or v is None for v in (start, end)):
        raise Unsupported("its bounds depend on the input")
    shape = call.shape(call["self"])
    dim = int(call["dim"]) % len(shape) if shape else int(call["dim"])
    size = shape[dim] if shape else None
    whole = (start or 0) == 0 and int(call["step"]) == 1
    whole = whole and (end is None or end >= 1 << 62 or (isinstance(size, int) and end >= size))
    if whole:  # x[:, ...] slices every sample whole: the input's own values
        return Mapped("identity", (call.value("self"),))
    if dim == 0:
        raise Unsupported("it slices the batch dimension (deepzip keeps dimension 0 as the batch)")
    attrs = {
        "dim": int(call["dim"]),
        "start": 0 if start is None else int(start),
        "end": (1 << 62) if end is None else min(int(end), 1 << 62),
        "step": int(call["step"]),
    }
    return Mapped("slice", (call.value("self"),), attrs)


def _split(call: Call) -> list[Mapped]:
    """chunk / split: one slice per part, bounds from the parts' shapes."""
    ndim = len(call.shape(call["self"]))
    dim = int(call["dim"]) % ndim
    if dim == 0:
        raise Unsupported("it splits the batch dimension")
    parts, start = [], 0
    for val in call.node.meta["val"]:
        size = val.shape[dim]
        if not isinstance(size, int):
            raise Unsupported("its parts' sizes depend on the input")
        attrs = {"dim": dim, "start": start, "end": start + size, "step": 1}
        parts.append(Mapped("slice", (call.value("self"),), attrs))
        start += size
    return parts


def _unbind(call: Call) -> list[Mapped]:
    ndim = len(call.shape(call["self"]))
    dim = int(call["dim"]) % ndim
    if dim == 0:
        raise Unsupported("it unbinds the batch dimension")
    count = len(call.node.meta["val"])
    return [Mapped("select", (call.value("self"),), {"dim": dim, "index": i}) for i in range(count)]


def _squeeze(call: Call) -> Mapped:
    return Mapped("squeeze", (call.value("self"),), {"dim": int(call["dim"])})


def _unsqueeze(call: Call) -> Mapped:
    return Mapped("unsqueeze", (call.value("self"),), {"dim": int(call["dim"])})


SHAPE_HANDLERS: dict[str, Callable[[Call], Mapped | list[Mapped]]] = {
    "flatten.using_ints": _flatten,
    "view.default": _reshape,
    "reshape.default": _reshape,
    "_unsafe_view.default": _reshape,
    "permute.default": _permute,
    "transpose.int": _transpose,
    "cat.default": _cat,
    "select.int": _select,
    "slice.Tensor": _slice,
    "chunk.default": _split,
    "split.Tensor": _split,
    "split_with_sizes.default": _split,
    "unbind.int": _unbind,
    "squeeze.dim": _squeeze,
    "unsqueeze.default": _unsqueeze,
}
