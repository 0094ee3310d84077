"""A shortened reproduction on a subset of real MNIST, end to end through the .dzip file."""

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from deepzip.container import read_dzip
from deepzip.data import load_mnist_dir
from deepzip.pipeline import PipelineError
from deepzip.reproduce import RECIPES, reproduce
from deepzip.search import SearchConfig
from deepzip.training import TensorData, TrainConfig


def _tables(summary):
    """RESULTS.md's tables of a reproduce summary, after a round trip through JSON."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from results_tables import network_section

    return network_section(json.loads(json.dumps(summary)))


def _short(point, **changes):
    return replace(
        point,
        steps=1,
        retrain_epochs=1,
        final_retrain_epochs=None,
        finetune_epochs=1,
        **changes,
    )


@pytest.mark.mnist
def test_short_reproduction_file_and_engine_agree(mnist_dir, tmp_path):
    m = load_mnist_dir(mnist_dir)
    data = TensorData.from_arrays(
        m.train_images, m.train_labels, m.test_images, m.test_labels
    ).subset(3000, 1000)
    full = RECIPES["lenet-300-100"]
    short = replace(
        full,
        baseline=TrainConfig(epochs=2, lr=0.05),
        paper_point=_short(full.paper_point),
        beyond_point=_short(full.beyond_point),
        search_point=_short(full.search_point),
        search_budget=SearchConfig(min_ratio=30, density_trials=2, bits_trials=1),
        val_size=500,
    )
    out = tmp_path / "lenet.dzip"
    summary = reproduce(
        "lenet-300-100",
        data,
        tmp_path / "work",
        out,
        tmp_path / "figs",
        points=("paper", "search", "beyond"),
        recipe=short,
        seeds=2,
    )
    assert summary["seeds"] == [0, 1]
    files = {
        "paper": out,
        "beyond": tmp_path / "lenet-beyond.dzip",
        "search": tmp_path / "lenet-search.dzip",
    }
    for name, path in files.items():
        entry = summary["points"][name]
        assert path.is_file() and entry["file_bytes"] == path.stat().st_size
        assert entry["file"] == str(path) and entry["seeds"] == [0, 1]
        sparsity = short.point(name).sparsity if name != "search" else entry["settings"]["sparsity"]
        for run in entry["runs"]:
            back = read_dzip(run["file"])
            kept = {layer.name: layer.density for layer in back.layers}
            for layer, s in sparsity.items():
                assert kept[layer] == pytest.approx(1 - s, abs=1e-3)
            # The engine running the file classifies exactly as the PyTorch model did.
            assert run["error"] == pytest.approx(run["torch_error"], abs=1e-12)
            assert run["ratio"] == pytest.approx(entry["dense_bytes"] / run["file_bytes"])
        # The two seeds trained different networks; the point reports their mean and range.
        errors = [r["error"] for r in entry["runs"]]
        assert entry["error"] == pytest.approx(np.mean(errors))
        assert entry["error_range"] == [min(errors), max(errors)]
        assert entry["file_error"] == errors[0]
        assert entry["runs"][1]["file"].startswith(str(tmp_path / "work" / "seed-1"))
    # The search found a point at the budget's ratio on the first seed's validation split.
    found = summary["search"]
    assert found["budget"] == {"min_ratio": 30}
    assert summary["points"]["search"]["runs"][0]["ratio"] >= 30
    assert {"ratio", "error", "error_range", "seeds", "settings", "trials"} <= set(found)
    assert found["error"] == summary["points"]["search"]["error"]
    assert (tmp_path / "work" / "search" / "finetune.pt").is_file()
    assert {"error", "baseline_error", "file_bytes", "dense_bytes", "ratio"} <= set(summary)
    pngs = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert "lenet-300-100-sensitivity.png" in pngs and "lenet-search-pareto.png" in pngs
    assert "lenet-fc1-codebook.png" in pngs and "lenet-beyond-fc1-huffman.png" in pngs
    # The sensitivity analysis measured the validation split, never the test split.
    assert summary["sensitivity"]["ratios"][0] == 0.0
    baseline = summary["sensitivity"]["baseline"]
    assert abs(baseline - (1 - summary["search"]["baseline_val_error"])) < 1e-12
    text = _tables(summary)
    assert "Deep Compression (paper, Table 1)" in text and "### beyond point" in text


def test_work_dir_of_another_baseline_is_refused_unless_restarted(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (64, 28, 28)).astype(np.uint8)
    labels = np.arange(64) % 10
    data = TensorData.from_arrays(images, labels, images[:32], labels[:32])
    full = RECIPES["lenet-300-100"]
    tiny = replace(
        full,
        baseline=TrainConfig(epochs=1, lr=0.05),
        paper_point=replace(
            full.paper_point,
            steps=1,
            retrain_epochs=0,
            final_retrain_epochs=None,
            finetune_epochs=0,
        ),
    )
    tiny = replace(tiny, val_size=16)
    work, out = tmp_path / "work", tmp_path / "net.dzip"
    reproduce("lenet-300-100", data, work, out, points=("paper",), recipe=tiny, seeds=1)
    assert json.loads((work / "recipe.json").read_text())["baseline"]["epochs"] == 1
    other = replace(tiny, baseline=TrainConfig(epochs=2, lr=0.05))
    with pytest.raises(PipelineError, match="other settings"):
        reproduce("lenet-300-100", data, work, out, points=("paper",), recipe=other, seeds=1)
    summary = reproduce(
        "lenet-300-100", data, work, out, points=("paper",), recipe=other, restart=True, seeds=1
    )
    assert json.loads((work / "recipe.json").read_text())["baseline"]["epochs"] == 2
    assert summary["file_bytes"] == out.stat().st_size


def test_a_compact_network_is_searched_and_run_from_its_file(stripes, tmp_path):
    """MobileNet v1 (scaled, BatchNorm folded) through the same reproduction: the search point
    only, its file at ``out``, the engine's accuracy on the file as the metric."""
    (x, y), (test_x, test_y) = stripes(400, 100)
    data = TensorData.from_arrays(x, y, test_x, test_y)
    full = RECIPES["mobilenet-v1"]
    short = replace(
        full,
        baseline=TrainConfig(epochs=2, lr=0.05, batch_size=32),
        search_point=replace(full.search_point, steps=1, retrain_epochs=1, finetune_epochs=1),
        search_budget=SearchConfig(max_loss=5.0, density_trials=1, bits_trials=1),
        val_size=100,
        train_size=250,
    )
    out = tmp_path / "mobilenet.dzip"
    summary = reproduce("mobilenet-v1", data, tmp_path / "work", out, recipe=short, seeds=2)
    assert list(summary["points"]) == ["search"] and summary["train_size"] == 250
    entry = summary["points"]["search"]
    assert entry["file"] == str(out) and out.stat().st_size == entry["file_bytes"]
    for run in entry["runs"]:
        assert run["error"] == pytest.approx(run["torch_error"], abs=1e-12)
    assert summary["metric_name"] == "accuracy"
    assert summary["metric"] == pytest.approx(1 - entry["error"])
    assert summary["baseline_metric"] == pytest.approx(1 - summary["baseline_error"])
    assert summary["ratio"] == entry["ratio"] and summary["dense_bytes"] == entry["dense_bytes"]
    assert summary["paper"] is None and summary["search"]["budget"] == {"max_loss": 5.0}
    # RESULTS.md's tables render from this JSON.
    text = _tables(summary)
    assert "## mobilenet-v1" in text and "### The budget search" in text
    assert f"{entry['file_bytes']:,}" in text
    assert "Weight-sharing sensitivity of the chosen trial" in text
    from results_tables import compact_summary

    row = compact_summary([json.loads(json.dumps(summary))], None).splitlines()[2]
    cells = [c.strip() for c in row.strip("|").split("|")]
    total = entry["inspect"]["total"]
    assert cells[0] == "mobilenet-v1" and cells[4] == f"{entry['file_bytes']:,}"
    assert cells[5] == f"{1 / total['kept']:.1f}×"  # P: the weights kept
    assert cells[7] == f"{1 / total['rate_pqh']:.1f}×"  # P+Q+H: the inspect table's total
    with pytest.raises(ValueError, match="no paper point"):
        reproduce("mobilenet-v1", data, tmp_path / "w2", out, points=("paper",), recipe=short)


def test_the_command_line_names_every_recipe():
    from deepzip.cli.reproduce import DETECTION, FASHION, NETWORKS, SCENES

    assert set(NETWORKS) == set(RECIPES)
    assert set(FASHION) == {n for n, r in RECIPES.items() if r.dataset == "fashion-mnist"}
    assert set(SCENES) == {n for n, r in RECIPES.items() if r.dataset == "mnist-scenes"}
    assert set(DETECTION) == {n for n, r in RECIPES.items() if r.task == "detection"}


def test_a_segmentation_network_is_measured_by_mean_iou_on_its_file(stripes, tmp_path):
    """SegNet (scaled) on scenes of digits: its file is run by the engine and scored by the mean
    IoU of every pixel's class, the same number as the PyTorch model's outputs give."""
    from deepzip.data.mnist import MNIST
    from deepzip.metrics import mean_iou
    from deepzip.reproduce import scene_data

    (x, y), (test_x, test_y) = stripes(200, 100)  # stand-in "digits": the label is a stripe
    digits = MNIST(x, y.astype(np.uint8), test_x, test_y.astype(np.uint8), "stripes")
    data = scene_data(digits, train=120, val=40, test=30)
    assert data.train_x.shape == (160, 1, 64, 64) and data.test_y.shape == (30, 64, 64)
    full = RECIPES["segnet"]
    short = replace(
        full,
        baseline=TrainConfig(epochs=2, lr=0.05, batch_size=16),
        search_point=replace(full.search_point, steps=1, retrain_epochs=1, finetune_epochs=0),
        search_budget=SearchConfig(max_loss=50.0, density_trials=1, bits_trials=0),
        val_size=40,
    )
    out = tmp_path / "segnet.dzip"
    summary = reproduce("segnet", data, tmp_path / "work", out, recipe=short, seeds=1)
    assert summary["metric_name"] == "mean_iou"
    run = summary["points"]["search"]["runs"][0]
    # Engine and PyTorch agree to float rounding (a pixel's near-tie may flip: 1e-4 of mean IoU
    # is a few pixels of the 30 × 64 × 64).
    assert run["error"] == pytest.approx(run["torch_error"], abs=1e-4)
    # The file's metric from the engine's outputs, recomputed here with numpy's argmax.
    from deepzip.engine import Engine

    logits = Engine.load(out).run(data.test_x.numpy())
    expected = mean_iou(logits.argmax(axis=1), data.test_y.numpy(), num_classes=11)
    assert summary["metric"] == pytest.approx(expected, abs=1e-12)


def test_segmentation_recipes_weight_their_loss_from_the_training_masks_only():
    """ENet and SegNet train on a cross-entropy weighted by their papers' class weightings,
    computed from the training split's masks: the validation and test masks do not move it."""
    from deepzip.tasks import class_weights

    rng = np.random.default_rng(0)
    masks = [torch.from_numpy(rng.integers(0, 11, (n, 8, 8))) for n in (6, 3, 4)]
    images = [torch.zeros(len(m), 1, 8, 8) for m in masks]
    data = TensorData(images[0], masks[0], images[2], masks[2], images[1], masks[1])
    other = TensorData(images[0], masks[0], images[2], masks[2] * 0, images[1], masks[1] * 0)
    for name, weighting in (("enet", "enet"), ("segnet", "median-frequency")):
        recipe = RECIPES[name]
        assert recipe.class_weighting == weighting and recipe.baseline.optimizer == "adam"
        expected = class_weights(masks[0].numpy(), 11, weighting)
        for d in (data, other):
            np.testing.assert_array_equal(recipe.loss(d).weight.numpy(), expected)
    assert RECIPES["mobilenet-v1"].loss(data) is None


def test_a_detection_network_is_measured_by_map_on_its_file(stripes, tmp_path):
    """SqueezeDet (scaled) on scenes of digits, trained with its ConvDet loss: its file is run
    by the engine and scored by the mAP at IoU 0.5 of the decoded boxes, recomputed here from the
    engine's raw outputs and the scenes' own boxes."""
    import torch

    from deepzip.data.mnist import MNIST
    from deepzip.engine import Engine
    from deepzip.metrics import mean_average_precision
    from deepzip.models import decode_detections
    from deepzip.models.squeezedet import SCENE_ANCHOR_SHAPES
    from deepzip.reproduce import box_targets, scene_data

    (x, y), (test_x, test_y) = stripes(200, 100)
    digits = MNIST(x, y.astype(np.uint8), test_x, test_y.astype(np.uint8), "stripes")
    data = scene_data(digits, train=120, val=40, test=30, boxes=True)
    assert data.train_y.shape == (160, 4, 5) and data.test_y.shape == (30, 4, 5)
    # The targets round-trip: every scene's boxes and classes, padding dropped.
    from deepzip.data.scenes import make_scenes

    scenes = make_scenes(digits, "test", 30, 0)
    for (boxes, classes), b, c in zip(box_targets(data.test_y), scenes.boxes, scenes.classes):
        np.testing.assert_array_equal(boxes, b)
        np.testing.assert_array_equal(classes, c)
    full = RECIPES["squeezedet"]
    short = replace(
        full,
        baseline=replace(full.baseline, epochs=2),  # batch 20, gradients clipped at norm 1
        search_point=replace(full.search_point, steps=1, retrain_epochs=1, finetune_epochs=0),
        search_budget=SearchConfig(max_loss=100.0, density_trials=1, bits_trials=0),
        val_size=40,
    )
    out = tmp_path / "squeezedet.dzip"
    summary = reproduce("squeezedet", data, tmp_path / "work", out, recipe=short, seeds=1)
    assert summary["metric_name"] == "map"
    run = summary["points"]["search"]["runs"][0]
    assert run["error"] == pytest.approx(run["torch_error"], abs=1e-3)
    outputs = torch.from_numpy(Engine.load(out).run(data.test_x.numpy()))
    found = decode_detections(outputs, SCENE_ANCHOR_SHAPES, 10, (64, 64))
    expected = mean_average_precision(found, list(zip(scenes.boxes, scenes.classes)))
    assert summary["metric"] == pytest.approx(expected, abs=1e-12)
