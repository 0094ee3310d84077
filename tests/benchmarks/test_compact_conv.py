"""benchmarks/compact_conv.py: MobileNet v1 1.0 compressed at the stated setting (pointwise 10%
kept, everything else whole) and run by the engine at 224x224 through its direct convolutions,
against the dense torch model (no timing is asserted, and ONNX Runtime is not needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import compact_conv
from deepzip.container import read_dzip
from deepzip.engine import Engine
from deepzip.network import dense_state_dict


def test_mobilenet_at_the_stated_setting(tmp_path):
    name = "mobilenet-v1-1.0"
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    path = tmp_path / "m.dzip"
    stored = compact_conv.compress(name, x, path)
    model = read_dzip(path)
    assert stored["file_bytes"] == path.stat().st_size
    assert stored["pruned_layers"] == 13  # the 13 pointwise convolutions
    for layer in model.layers:
        shape = layer.weight_shape
        if layer.kind == "conv2d" and tuple(shape[2:]) == (1, 1):
            assert layer.density == pytest.approx(0.10, abs=0.005), layer.name
        else:
            assert layer.num_kept == layer.num_weights, layer.name  # stored whole
        assert len(layer.codebook) <= 2**8
    engine = Engine(model, pes=2)
    dense = compact_conv._folded(name, x)
    dense.load_state_dict(dense_state_dict(model), strict=True)
    with torch.inference_mode():
        want = dense(x).numpy()
    assert compact_conv._difference(engine.run(x.numpy()), want) <= 1e-4
    breakdown = compact_conv.engine_breakdown(engine, x.numpy(), calls=1)
    assert {"pointwise", "depthwise", "conv kxk", "linear"} <= set(breakdown)
    assert all(np.isfinite(v) and v > 0 for v in breakdown.values())
