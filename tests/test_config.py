"""Configs round-trip through JSON; unknown keys are errors."""

import pytest

from deepzip.config import from_json, to_json
from deepzip.pipeline import CompressConfig, demo_config
from deepzip.prune import PruneConfig
from deepzip.share import QuantizeConfig


def test_round_trip_nested_configs():
    for config in (
        CompressConfig(),
        demo_config(),
        CompressConfig(
            prune=PruneConfig(quality=1.2, steps=4), quantize=QuantizeConfig(bits={"fc1": 3})
        ),
    ):
        assert from_json(CompressConfig, to_json(config)) == config


def test_unknown_key_is_an_error():
    with pytest.raises(ValueError, match="unknown field"):
        from_json(CompressConfig, '{"modle": "lenet-5"}')
    with pytest.raises(ValueError, match="unknown field"):
        from_json(CompressConfig, '{"train": {"epoch": 3}}')
