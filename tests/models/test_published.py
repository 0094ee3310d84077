"""The published-size networks: parameter counts against the papers, forward shapes.

Where a paper prints an exact count we match it exactly; where it prints a rounded one we match it
within that rounding. Two published figures are not met, and the tests say so (strict xfail), with
the count this implementation has pinned beside them: ENet (364,311, the paper's Table 3 says
0.37M) and SqueezeDet (2,082,120 for the authors' released network, the paper's Table 2 says
1.97M). Every network runs one forward at its published resolution (batch 1, about 3 s in all on
one thread; SegNet's 360×480 also checks that odd sizes, 45 → 23, unpool back).
"""

import pytest
import torch

from deepzip.models import CATALOGUE, build_model, count_parameters

MATCHED = {
    "squeezenet-1.0": 1_248_424,
    "squeezenet-1.1": 1_235_496,
    "squeezenext-1.0-23": 724_056,
    "mobilenet-v1-1.0": 4_231_976,
    "mobilenet-v2-1.0": 3_504_872,
    "segnet-published": 29_449_355,  # the paper's 29.45M
}
UNMATCHED = {
    "enet-published": 364_311,
    "squeezedet-published": 2_082_120,
}


@pytest.mark.parametrize(("name", "count"), MATCHED.items())
def test_parameter_count_matches_the_paper(name, count):
    reference = CATALOGUE[name].reference
    assert count_parameters(build_model(name)) == count
    assert reference.matches(count), reference.source
    if reference.rounded_to == 1:
        assert reference.parameters == count


@pytest.mark.parametrize(("name", "count"), UNMATCHED.items())
def test_parameter_count_of_unmatched_networks_is_pinned(name, count):
    assert count_parameters(build_model(name)) == count


_NOT_MET = {
    "enet-published": "364,311 here (0.36M) with the authors' Torch layout (e-lab/ENet-training)"
    " and 19 classes; the paper's Table 3 prints 0.37M",
    "squeezedet-published": "2,082,120 for the authors' released network"
    " (BichenWuUCB/squeezeDet); the paper's Table 2 prints 1.97M",
}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=r)) for n, r in _NOT_MET.items()],
)
def test_parameter_count_of_unmatched_networks_against_the_paper(name):
    reference = CATALOGUE[name].reference
    assert reference.matches(count_parameters(build_model(name)))


def test_reference_rounding():
    reference = CATALOGUE["enet-published"].reference  # 0.37M
    assert reference.matches(365_000) and reference.matches(374_999)
    assert not reference.matches(364_999) and not reference.matches(375_001)


# Output shapes at the published input shapes (CATALOGUE's input_shape, batch 1).
OUTPUTS = {
    "squeezenet-1.0": (1, 1000),
    "squeezenet-1.1": (1, 1000),
    "squeezenext-1.0-23": (1, 1000),
    "mobilenet-v1-1.0": (1, 1000),
    "mobilenet-v2-1.0": (1, 1000),
    "enet-published": (1, 19, 512, 512),
    "segnet-published": (1, 11, 360, 480),
    # 384×1248: conv1 3×3/2 → 191×623, then three 3×3/2 max-pools → 95×311, 47×155, 23×77;
    # 9 anchors × (3 classes + 1 confidence + 4 deltas) = 72 channels.
    "squeezedet-published": (1, 72, 23, 77),
}


def test_every_published_network_is_listed():
    assert set(OUTPUTS) == set(MATCHED) | set(UNMATCHED)
    assert set(OUTPUTS) == {n for n, e in CATALOGUE.items() if e.reference is not None}


@pytest.mark.parametrize(("name", "shape"), OUTPUTS.items())
@torch.no_grad()
def test_forward_at_the_published_resolution(name, shape):
    model = build_model(name).eval()
    assert model(torch.zeros(1, *CATALOGUE[name].input_shape)).shape == shape
