"""The built-in networks, by name.

Deep Compression's MNIST networks (``lenet-300-100``, ``lenet-5``), and for issue 11 two sizes of
each architecture: the published size (for structure, size and speed; never trained here) and a
width- and depth-scaled version with the same defining blocks, small enough to train on MNIST,
Fashion-MNIST or MNIST-digit scenes on a CPU.

``CATALOGUE`` says for every name its task, the shape of one input and, for published sizes, the
parameter count it is checked against; ``MODELS`` maps names to factories; ``build_model(name)``
builds one, untrained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from deepzip.models.enet import ENET_REFERENCE, ENet, enet, enet_published
from deepzip.models.lenet import lenet_5, lenet_300_100
from deepzip.models.lstm import RowLSTM, lstm
from deepzip.models.mobilenet_v1 import (
    MOBILENET_V1_1_0_REFERENCE,
    MobileNetV1,
    mobilenet_v1,
    mobilenet_v1_1_0,
)
from deepzip.models.mobilenet_v2 import (
    MOBILENET_V2_1_0_REFERENCE,
    MobileNetV2,
    mobilenet_v2,
    mobilenet_v2_1_0,
)
from deepzip.models.reference import ReferenceCount, count_parameters
from deepzip.models.segnet import SEGNET_REFERENCE, SegNet, segnet, segnet_published
from deepzip.models.squeezedet import (
    SQUEEZEDET_REFERENCE,
    SqueezeDet,
    convdet_loss,
    decode_detections,
    squeezedet,
    squeezedet_published,
)
from deepzip.models.squeezenet import (
    SQUEEZENET_1_0_REFERENCE,
    SQUEEZENET_1_1_REFERENCE,
    SqueezeNet,
    squeezenet,
    squeezenet_1_0,
    squeezenet_1_1,
)
from deepzip.models.squeezenext import (
    SQUEEZENEXT_1_0_23_REFERENCE,
    SqueezeNext,
    squeezenext,
    squeezenext_1_0_23,
)

__all__ = [
    "CATALOGUE",
    "MODELS",
    "ENet",
    "MobileNetV1",
    "MobileNetV2",
    "ModelEntry",
    "ReferenceCount",
    "RowLSTM",
    "SegNet",
    "SqueezeDet",
    "SqueezeNet",
    "SqueezeNext",
    "build_model",
    "convdet_loss",
    "count_parameters",
    "decode_detections",
    "enet",
    "enet_published",
    "lenet_5",
    "lenet_300_100",
    "lstm",
    "mobilenet_v1",
    "mobilenet_v1_1_0",
    "mobilenet_v2",
    "mobilenet_v2_1_0",
    "segnet",
    "segnet_published",
    "squeezedet",
    "squeezedet_published",
    "squeezenet",
    "squeezenet_1_0",
    "squeezenet_1_1",
    "squeezenext",
    "squeezenext_1_0_23",
]


@dataclass(frozen=True)
class ModelEntry:
    """A built-in network: its factory, its task ("classification", "segmentation" or
    "detection"), the (C, H, W) shape of one input, and for a published size the parameter count
    it must match."""

    factory: Callable[[], nn.Module]
    task: str
    input_shape: tuple[int, int, int]
    reference: ReferenceCount | None = None


_MNIST = (1, 28, 28)
_SCENE = (1, 64, 64)
_IMAGENET = (3, 224, 224)

CATALOGUE: dict[str, ModelEntry] = {
    "lenet-300-100": ModelEntry(lenet_300_100, "classification", _MNIST),
    "lenet-5": ModelEntry(lenet_5, "classification", _MNIST),
    # Scaled versions, trained here.
    "squeezenet": ModelEntry(squeezenet, "classification", _MNIST),
    "squeezenext": ModelEntry(squeezenext, "classification", _MNIST),
    "mobilenet-v1": ModelEntry(mobilenet_v1, "classification", _MNIST),
    "mobilenet-v2": ModelEntry(mobilenet_v2, "classification", _MNIST),
    "lstm": ModelEntry(lstm, "classification", _MNIST),
    "enet": ModelEntry(enet, "segmentation", _SCENE),
    "segnet": ModelEntry(segnet, "segmentation", _SCENE),
    "squeezedet": ModelEntry(squeezedet, "detection", _SCENE),
    # Published sizes: structure, size and speed only.
    "squeezenet-1.0": ModelEntry(
        squeezenet_1_0, "classification", _IMAGENET, SQUEEZENET_1_0_REFERENCE
    ),
    "squeezenet-1.1": ModelEntry(
        squeezenet_1_1, "classification", _IMAGENET, SQUEEZENET_1_1_REFERENCE
    ),
    "squeezenext-1.0-23": ModelEntry(
        squeezenext_1_0_23, "classification", _IMAGENET, SQUEEZENEXT_1_0_23_REFERENCE
    ),
    "mobilenet-v1-1.0": ModelEntry(
        mobilenet_v1_1_0, "classification", _IMAGENET, MOBILENET_V1_1_0_REFERENCE
    ),
    "mobilenet-v2-1.0": ModelEntry(
        mobilenet_v2_1_0, "classification", _IMAGENET, MOBILENET_V2_1_0_REFERENCE
    ),
    "enet-published": ModelEntry(enet_published, "segmentation", (3, 512, 512), ENET_REFERENCE),
    "segnet-published": ModelEntry(
        segnet_published, "segmentation", (3, 360, 480), SEGNET_REFERENCE
    ),
    "squeezedet-published": ModelEntry(
        squeezedet_published, "detection", (3, 384, 1248), SQUEEZEDET_REFERENCE
    ),
}

MODELS: dict[str, Callable[[], nn.Module]] = {
    name: entry.factory for name, entry in CATALOGUE.items()
}


def build_model(name: str) -> nn.Module:
    """A fresh, untrained built-in model by name (see ``MODELS``)."""
    try:
        factory = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; built-in models: {', '.join(MODELS)}") from None
    return factory()
