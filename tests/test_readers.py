"""Every raw CIFAR-10 layout reads to the same arrays; bad input fails with one clear line."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stages.core.errors import UserError
from stages.data import readers
from stages.data.readers import CIFAR10_CLASSES, read_cifar10

PER_CLASS = {"train": 3, "test": 2}


def _random_split(rng: np.random.Generator, split: str) -> tuple[np.ndarray, np.ndarray]:
    labels = np.tile(np.arange(10), PER_CLASS[split])  # interleaved, as in the real batches
    rng.shuffle(labels)
    images = rng.integers(0, 256, (len(labels), 3, 32, 32), dtype=np.uint8)
    return images, labels


@pytest.fixture(scope="module")
def cifar_like() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    return {split: _random_split(rng, split) for split in ("train", "test")}


def _batch_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    return pickle.dumps({b"data": images.reshape(len(images), -1), b"labels": labels.tolist()})


def write_pickles(root: Path, data: dict) -> None:
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    images, labels = data["train"]
    for i, chunk in enumerate(np.array_split(np.arange(len(labels)), 5), start=1):
        (base / f"data_batch_{i}").write_bytes(_batch_bytes(images[chunk], labels[chunk]))
    (base / "test_batch").write_bytes(_batch_bytes(*data["test"]))
    (base / "batches.meta").write_bytes(pickle.dumps({b"label_names": [c.encode() for c in CIFAR10_CLASSES]}))


def write_folders(root: Path, data: dict, fmt: str = "PNG") -> None:
    for split, (images, labels) in data.items():
        seen: dict[int, int] = {}
        for image, label in zip(images, labels, strict=True):
            index = seen.get(int(label), 0)
            seen[int(label)] = index + 1
            path = root / split / CIFAR10_CLASSES[label] / f"{index:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image.transpose(1, 2, 0)).save(path, format=fmt)


def _tar_dir(source: Path, archive: Path, arcname: str) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname=arcname)


def _expected(data: dict) -> dict:
    out = {}
    for split, (images, labels) in data.items():
        order = np.argsort(labels, kind="stable")
        out[split] = (images[order], labels[order])
    return out


def test_every_layout_reads_identical_arrays(tmp_path: Path, cifar_like: dict) -> None:
    expected = _expected(cifar_like)
    pickles = tmp_path / "pickles"
    write_pickles(pickles, cifar_like)
    python_archive = tmp_path / "python-archive"
    python_archive.mkdir()
    _tar_dir(
        pickles / "cifar-10-batches-py",
        python_archive / "cifar-10-python.tar.gz",
        "cifar-10-batches-py",
    )
    folders = tmp_path / "folders"
    write_folders(folders, cifar_like)
    archives = tmp_path / "archives"
    archives.mkdir()
    for split in ("train", "test"):
        _tar_dir(folders / split, archives / f"cifar_{split}.tar.gz", split)

    layouts = {}
    for root in (pickles, python_archive, folders, archives):
        dataset = read_cifar10(root, 32, download=False)
        layouts[root.name] = dataset.layout
        assert dataset.classes == list(CIFAR10_CLASSES)
        for split, (images, labels) in expected.items():
            np.testing.assert_array_equal(dataset.splits[split].images, images)
            np.testing.assert_array_equal(dataset.splits[split].labels, labels)
    assert layouts["pickles"] == "pickles" and layouts["python-archive"] == "python-archive"
    assert layouts["folders"].startswith("folders") and layouts["archives"].startswith("archives")


def test_grayscale_and_rgba_images_are_converted_to_rgb(tmp_path: Path) -> None:
    gray = Image.fromarray(np.full((32, 32), 200, dtype=np.uint8), mode="L")
    rgba = Image.fromarray(np.full((40, 64, 4), 90, dtype=np.uint8), mode="RGBA")
    for split in ("train", "test"):
        for cls in ("a", "b"):
            folder = tmp_path / split / cls
            folder.mkdir(parents=True)
            gray.save(folder / "gray.png")
            rgba.save(folder / "rgba.png")
    dataset = read_cifar10(tmp_path, 32, download=False)
    images = dataset.splits["train"].images
    assert images.shape == (4, 3, 32, 32)
    assert dataset.classes == ["a", "b"]
    assert (images[0] == 200).all()  # gray.png sorts first: every channel carries the gray value
    assert (images[1] == 90).all()  # rgba.png centre-cropped to square and resized to 32


def test_truncated_image_names_the_file(tmp_path: Path, cifar_like: dict) -> None:
    write_folders(tmp_path, cifar_like)
    victim = tmp_path / "train" / "cat" / "0001.png"
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(buffer, format="JPEG")
    victim.write_bytes(buffer.getvalue()[:200])
    with pytest.raises(UserError, match=r"train/cat/0001\.png: unreadable image"):
        read_cifar10(tmp_path, 32, download=False)


def test_empty_class_folder_is_an_error(tmp_path: Path, cifar_like: dict) -> None:
    write_folders(tmp_path, cifar_like)
    (tmp_path / "test" / "extra").mkdir()
    with pytest.raises(UserError, match=r"extra: class folder has no images"):
        read_cifar10(tmp_path, 32, download=False)


def test_missing_data_says_where_to_put_which_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no CIFAR-10 found.*cifar-10-python\.tar\.gz"):
        read_cifar10(tmp_path / "nothing-here", 32, download=False)


def test_failed_download_gives_the_same_advice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets

    def offline(*args, **kwargs):  # noqa: ANN002, ANN003
        raise OSError("network unreachable")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(UserError, match=r"download failed \(OSError\).*Put one of these there"):
        read_cifar10(tmp_path / "raw", 32, download=True)


def test_pickles_that_would_run_code_are_refused(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):  # noqa: ANN204
            return (print, ("pwned",))

    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    for name in [*readers.TRAIN_BATCHES, "test_batch"]:
        (base / name).write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(
        UserError, match=r"data_batch_1: not a CIFAR-10 batch \(refusing to load builtins\.print\)"
    ):
        read_cifar10(tmp_path, 32, download=False)
