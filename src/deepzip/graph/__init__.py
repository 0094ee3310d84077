"""The network stored in a .dzip file: a DAG of ops (``ir``) from one op table (``ops``)."""

from deepzip.graph.ir import INPUT_DTYPES, Graph, GraphError, GraphInput, Node, chain
from deepzip.graph.ops import OPS, OPS_BY_CODE, WEIGHT_OPS, OpSpec

__all__ = [
    "INPUT_DTYPES",
    "OPS",
    "OPS_BY_CODE",
    "WEIGHT_OPS",
    "Graph",
    "GraphError",
    "GraphInput",
    "Node",
    "OpSpec",
    "chain",
]
