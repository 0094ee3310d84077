"""The published-size networks: parameter counts against the papers, forward shapes.

Where a paper prints an exact count we match it exactly; where it prints a rounded one we match it
within that rounding. Two published figures are not met, and the tests say so (strict xfail), with
the count this implementation has pinned beside them: ENet (364,311, the paper's Table 3 says
0.37M) and SqueezeDet (2,082,120 for the authors' released network, the paper's Table 2 says
1.97M). Forwards run at the published resolution where that is quick (224×224 classification) and
at a smaller one otherwise; the slow test runs every network at its published resolution.
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


@pytest.mark.parametrize(
    "name",
    ["squeezenet-1.0", "squeezenet-1.1", "squeezenext-1.0-23", "mobilenet-v1-1.0",
     "mobilenet-v2-1.0"],
)  # fmt: skip
@torch.no_grad()
def test_classification_forward_at_224(name):
    model = build_model(name).eval()
    assert CATALOGUE[name].input_shape == (3, 224, 224)
    assert model(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)


@torch.no_grad()
def test_segmentation_forwards_keep_the_input_size():
    # Smaller than published; 72×96 pools to odd sizes (9 → 5 → 3), which SegNet must undo.
    assert build_model("enet-published").eval()(torch.zeros(1, 3, 128, 96)).shape == (
        1, 19, 128, 96,
    )  # fmt: skip
    assert build_model("segnet-published").eval()(torch.zeros(1, 3, 72, 96)).shape == (
        1, 11, 72, 96,
    )  # fmt: skip


def _squeezedet_grid(height: int, width: int) -> tuple[int, int]:
    """conv1 3×3/2 and three 3×3/2 max-pools, all without padding."""
    for _ in range(4):
        height, width = (height - 3) // 2 + 1, (width - 3) // 2 + 1
    return height, width


@torch.no_grad()
def test_squeezedet_convdet_shape():
    assert _squeezedet_grid(384, 1248) == (23, 77)
    model = build_model("squeezedet-published").eval()
    out = model(torch.zeros(1, 3, 96, 312))
    assert out.shape == (1, 9 * (3 + 1 + 4), *_squeezedet_grid(96, 312))


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n, e in CATALOGUE.items() if e.reference is not None])
@torch.no_grad()
def test_forward_at_the_published_resolution(name):
    entry = CATALOGUE[name]
    out = build_model(name).eval()(torch.zeros(1, *entry.input_shape))
    if entry.task == "segmentation":
        assert out.shape[2:] == entry.input_shape[1:]
    elif entry.task == "detection":
        assert out.shape[2:] == _squeezedet_grid(*entry.input_shape[1:])
    else:
        assert out.shape == (1, 1000)
