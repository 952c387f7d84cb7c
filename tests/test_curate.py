"""The training-set stages: outlier filtering, the user's extra images, oversampling."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from stages.core.errors import UserError
from stages.core.schema import OutliersConfig
from stages.data.curate import (
    keep_mask,
    oversample_indices,
    read_image_folder,
    reconstruction_errors,
    train_autoencoder,
)
from stages.data.dataset import ImageSet
from stages.data.folder import read_mat


def test_keep_mask_drops_exactly_the_highest_errors() -> None:
    errors = torch.tensor([0.1, 0.9, 0.3, 0.8, 0.2, 0.7, 0.0, 0.5, 0.4, 0.6], dtype=torch.float64)
    keep = keep_mask(errors, 0.3)  # floor(0.3 * 10) = 3 dropped
    assert (~keep).nonzero().flatten().tolist() == [1, 3, 5]
    assert keep_mask(errors, 0.0).all()
    assert int((~keep_mask(errors, 0.25)).sum()) == 2  # floor, never more than asked


def test_the_autoencoder_drops_the_planted_outliers(tiny_shapes: ImageSet) -> None:
    # Noise, not black images: a black image is the easiest of all to reconstruct (its
    # error was 3x below the median when tried), so reconstruction error never drops it.
    rng = np.random.default_rng(0)
    noise = torch.from_numpy(rng.integers(0, 256, (6, 3, 32, 32), dtype=np.uint8))
    planted = ImageSet(
        torch.cat([tiny_shapes.images, noise]),
        torch.cat([tiny_shapes.labels, torch.zeros(6, dtype=torch.int64)]),
        tiny_shapes.classes,
    )
    cfg = OutliersConfig(fraction=6 / len(planted), epochs=8, batch_size=32, width=32)
    model = train_autoencoder(cfg, planted, torch.device("cpu"), progress=False)
    errors = reconstruction_errors(model, planted, torch.device("cpu"))
    keep = keep_mask(errors, cfg.fraction)
    assert int((~keep).sum()) == 6
    assert (~keep).nonzero().flatten().tolist() == list(range(len(tiny_shapes), len(planted)))


def test_autoencoder_training_is_seeded_and_resumes_to_the_same_weights(tiny_shapes: ImageSet) -> None:
    cfg = OutliersConfig(fraction=0.1, epochs=2, batch_size=50, width=8)
    cpu = torch.device("cpu")
    saved: dict = {}
    straight = train_autoencoder(
        cfg, tiny_shapes, cpu, on_epoch=lambda e, s: saved.setdefault(e, copy.deepcopy(s)), progress=False
    )
    again = train_autoencoder(cfg, tiny_shapes, cpu, progress=False)
    resumed = train_autoencoder(cfg, tiny_shapes, cpu, resume=saved[1], progress=False)
    for a, b, c in zip(straight.parameters(), again.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)


def test_oversampling_keeps_every_image_and_reaches_the_target() -> None:
    labels = torch.tensor([0] * 6 + [1] * 3 + [2] * 1)
    index = oversample_indices(labels, 3, 25, balance=False, seed=1)
    assert len(index) == 25
    assert index[:10].tolist() == list(range(10))  # every original once, then draws
    assert torch.equal(index, oversample_indices(labels, 3, 25, balance=False, seed=1))
    assert not torch.equal(index, oversample_indices(labels, 3, 25, balance=False, seed=2))
    with pytest.raises(UserError, match=r"oversample\.target=5 is below the 10 training images"):
        oversample_indices(labels, 3, 5, balance=False, seed=1)


def test_balanced_oversampling_gives_every_class_the_same_count() -> None:
    labels = torch.tensor([0] * 6 + [1] * 3 + [2] * 1)
    index = oversample_indices(labels, 3, 0, balance=True, seed=0)  # to the largest class
    assert torch.bincount(labels[index]).tolist() == [6, 6, 6]
    assert set(range(10)) <= set(index.tolist())  # nobody lost when every class grows
    small = oversample_indices(labels, 3, 9, balance=True, seed=0)  # class 0 is subsampled
    assert torch.bincount(labels[small]).tolist() == [3, 3, 3]
    assert len(set(small[labels[small] == 0].tolist())) == 3  # without replacement
    uneven = oversample_indices(labels, 3, 10, balance=True, seed=0)
    assert torch.bincount(labels[uneven]).tolist() == [4, 3, 3]


def test_extra_image_folder_is_read_sorted_and_resized(tmp_path) -> None:  # noqa: ANN001
    folder = tmp_path / "mine"
    folder.mkdir()
    Image.new("RGB", (64, 48), (255, 0, 0)).save(folder / "b.png")
    Image.new("L", (40, 40), 255).save(folder / "a.jpg")
    (folder / "notes.txt").write_text("not an image")
    images = read_image_folder(folder, 32)
    assert images.shape == (2, 3, 32, 32) and images.dtype == np.uint8
    assert images[0].min() > 240  # a.jpg (white) first
    assert images[1, 0].min() == 255 and images[1, 1].max() == 0  # b.png (red)
    with pytest.raises(UserError, match=r"extra\.images='.*nowhere': no such folder"):
        read_image_folder(tmp_path / "nowhere", 32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="has no image files"):
        read_image_folder(tmp_path / "empty", 32)


def test_an_svhn_style_mat_is_read_with_its_labels(tmp_path) -> None:  # noqa: ANN001
    x = np.zeros((32, 32, 3, 4), dtype=np.uint8)
    x[..., 2] = 200
    savemat(tmp_path / "extra.mat", {"X": x, "y": np.array([[1], [0], [9], [3]])})
    images, labels = read_mat(tmp_path / "extra.mat", 32, 10)
    assert images.shape == (4, 3, 32, 32) and labels.tolist() == [1, 0, 9, 3]
    assert images[2].min() == 200 and images[0].max() == 0
    resized, _ = read_mat(tmp_path / "extra.mat", 16, 10)
    assert resized.shape == (4, 3, 16, 16)


@pytest.mark.parametrize(
    ("arrays", "pattern"),
    [
        ({"X": np.zeros((32, 32, 3, 2), np.uint8)}, r"no y array"),
        ({"images": np.zeros((2,))}, r"no X or y array"),
        ({"X": np.zeros((2, 32, 32), np.uint8), "y": np.zeros(2)}, r"X has shape \(2, 32, 32\)"),
        ({"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.zeros(3)}, r"y has 3 labels for 2 images"),
        ({"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([0, 10])}, r"class indices in \[0, 10\)"),
    ],
)
def test_a_bad_mat_fails_with_one_clear_line(tmp_path, arrays, pattern) -> None:  # noqa: ANN001
    savemat(tmp_path / "bad.mat", arrays)
    with pytest.raises(UserError, match=pattern):
        read_mat(tmp_path / "bad.mat", 32, 10)
