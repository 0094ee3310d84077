"""The MNIST-digit scene generator: deterministic, consistent targets, split-pure."""

import numpy as np
import pytest

from deepzip.data.mnist import MNIST, load_mnist_dir
from deepzip.data.scenes import make_scenes


def _digits() -> MNIST:
    """Synthetic digits whose split shows in their pixels: training digits have ink 200 and
    test digits ink 255; a digit's ink box is a rectangle whose size depends on its index."""
    rng = np.random.default_rng(0)

    def split(count: int, ink: int) -> tuple[np.ndarray, np.ndarray]:
        images = np.zeros((count, 28, 28), dtype=np.uint8)
        for i in range(count):
            top, left = rng.integers(0, 8, size=2)
            height, width = rng.integers(8, 21, size=2)
            images[i, top : top + height, left : left + width] = ink
            images[i, top, left] = 60  # a faint pixel inside the box
        return images, rng.integers(0, 10, size=count).astype(np.uint8)

    train_images, train_labels = split(50, 200)
    test_images, test_labels = split(30, 255)
    return MNIST(train_images, train_labels, test_images, test_labels, "synthetic")


def test_same_seed_same_scenes_other_seed_other_scenes():
    digits = _digits()
    a = make_scenes(digits, "train", 20, seed=7)
    b = make_scenes(digits, "train", 20, seed=7)
    c = make_scenes(digits, "train", 20, seed=8)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    for name in ("boxes", "classes", "digit_indices"):
        for x, y in zip(getattr(a, name), getattr(b, name)):
            np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.images, c.images)


def test_shapes_dtypes_and_digit_counts():
    scenes = make_scenes(_digits(), "test", 40, seed=1, canvas=72, max_digits=4)
    assert scenes.images.shape == (40, 1, 72, 72) and scenes.images.dtype == np.float32
    assert scenes.masks.shape == (40, 72, 72) and scenes.masks.dtype == np.int64
    counts = [len(b) for b in scenes.boxes]
    assert min(counts) >= 1 and max(counts) <= 4 and len(set(counts)) > 1
    for boxes, classes in zip(scenes.boxes, scenes.classes):
        assert boxes.shape == (len(classes), 4) and boxes.dtype == np.float32
        assert classes.dtype == np.int64
    assert len(scenes.box_targets()) == 40


def test_targets_agree_with_each_other_and_the_image():
    scenes = make_scenes(_digits(), "train", 30, seed=3)
    for image, mask, boxes, classes in zip(
        scenes.images, scenes.masks, scenes.boxes, scenes.classes
    ):
        covered = np.zeros(mask.shape, dtype=int)
        for (x1, y1, x2, y2), cls in zip(boxes.astype(int), classes):
            covered[y1:y2, x1:x2] += 1
            inside = mask[y1:y2, x1:x2]
            # the box is the ink box: its mask holds this digit's class + 1 up to every edge
            assert set(np.unique(inside)) <= {0, cls + 1}
            assert (inside[0] > 0).any() and (inside[-1] > 0).any()
            assert (inside[:, 0] > 0).any() and (inside[:, -1] > 0).any()
        assert covered.max() <= 1  # boxes never overlap
        assert (mask[covered == 0] == 0).all()  # no digit pixel outside a box
        # the mask marks exactly the ink (≥ 0.5): 200/255 here, not the faint 60/255
        np.testing.assert_array_equal(mask > 0, image[0] >= 0.5)


def test_training_scenes_use_only_training_digits():
    digits = _digits()
    train = make_scenes(digits, "train", 30, seed=5)
    test = make_scenes(digits, "test", 30, seed=5)
    # pixel values: 0, faint 60, and the split's own ink
    assert set(np.unique(np.round(train.images * 255))) <= {0, 60, 200}
    assert set(np.unique(np.round(test.images * 255))) <= {0, 60, 255}
    for scenes, labels, count in ((train, digits.train_labels, 50), (test, digits.test_labels, 30)):
        for indices, classes in zip(scenes.digit_indices, scenes.classes):
            assert ((0 <= indices) & (indices < count)).all()
            np.testing.assert_array_equal(classes, labels[indices])


def test_bad_arguments():
    digits = _digits()
    with pytest.raises(ValueError, match="split"):
        make_scenes(digits, "validation", 1, seed=0)
    with pytest.raises(ValueError, match="64"):
        make_scenes(digits, "train", 1, seed=0, canvas=32)


@pytest.mark.mnist
def test_real_mnist_scenes_paste_the_recorded_training_digits(mnist_dir):
    digits = load_mnist_dir(mnist_dir)
    scenes = make_scenes(digits, "train", 25, seed=11)
    for image, boxes, indices in zip(scenes.images, scenes.boxes, scenes.digit_indices):
        for (x1, y1, x2, y2), index in zip(boxes.astype(int), indices):
            digit = digits.train_images[index]
            ink = np.argwhere(digit >= 128)
            (top, left), (bottom, right) = ink.min(0), ink.max(0) + 1
            np.testing.assert_array_equal(
                np.round(image[0, y1:y2, x1:x2] * 255), digit[top:bottom, left:right]
            )
