"""Readers for every raw CIFAR-10 layout; each returns the same arrays for the same images.

Layouts, looked for in this order inside the raw folder:
  1. torchvision's `cifar-10-batches-py/` pickles (or the batch files themselves)
  2. the `cifar-10-python.tar.gz` archive
  3. class folders `train/<class>/*.jpg` and `test/<class>/*.jpg`
  4. `.tar.gz` archives holding such class folders (as in ../shared/data/cifar10-jpg)

Canonical order, whatever the layout: images sorted by label, stable within a label
(the pickle's order, or file names), so every layout and machine gives identical bytes.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from stages.core.errors import UserError

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
PYTHON_ARCHIVE = "cifar-10-python.tar.gz"
PICKLE_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
SPLITS = ("train", "test")


@dataclass
class Split:
    images: np.ndarray  # (N, 3, H, W) uint8
    labels: np.ndarray  # (N,) int64


@dataclass
class RawDataset:
    splits: dict[str, Split]
    classes: list[str]
    layout: str


def decode_image(data: bytes, name: str, size: int) -> np.ndarray:
    """Decode one image file to (3, size, size) uint8 RGB: any mode, centre-cropped, resized."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()  # decodes now, so a truncated file fails here, with its name
            return image_to_array(img, size)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise UserError(f"{name}: unreadable image ({err})") from None


def image_to_array(img: Image.Image, size: int) -> np.ndarray:
    """PIL image (grayscale, RGBA, palette, ...) to (3, size, size) uint8 RGB."""
    if img.mode != "RGB":
        # RGBA/LA/P: composite on black is what convert() does; good enough for datasets.
        img = img.convert("RGB")
    width, height = img.size
    if width != height:
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        img = img.crop((left, top, left + side, top + side))
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy()


class _ArrayUnpickler(pickle.Unpickler):
    """CIFAR batches hold only dicts, lists and NumPy arrays; refuse anything that runs code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):  # noqa: ANN201
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _load_batch(data: bytes, name: str) -> dict:
    try:
        batch = _ArrayUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as err:
        raise UserError(f"{name}: not a CIFAR-10 batch ({err})") from None
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}


def _split_from_batches(batches: list[tuple[str, dict]], size: int) -> Split:
    images, labels = [], []
    for name, batch in batches:
        if "data" not in batch or "labels" not in batch:
            raise UserError(f"{name}: CIFAR-10 batch without 'data'/'labels'")
        data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        if size != 32:
            data = np.stack([image_to_array(Image.fromarray(x.transpose(1, 2, 0)), size) for x in data])
        images.append(data)
        labels.append(np.asarray(batch["labels"], dtype=np.int64))
    return _canonical(np.concatenate(images), np.concatenate(labels))


def _canonical(images: np.ndarray, labels: np.ndarray) -> Split:
    order = np.argsort(labels, kind="stable")
    return Split(np.ascontiguousarray(images[order]), np.ascontiguousarray(labels[order]))


def _read_pickles(files: dict[str, bytes], size: int) -> RawDataset:
    meta = _load_batch(files["batches.meta"], "batches.meta") if "batches.meta" in files else {}
    names = meta.get("label_names")
    classes = [n.decode() if isinstance(n, bytes) else n for n in names] if names else list(CIFAR10_CLASSES)
    for name in [*TRAIN_BATCHES, "test_batch"]:
        if name not in files:
            raise UserError(f"{PICKLE_DIR}/{name}: missing from the CIFAR-10 pickles")
    train = [(n, _load_batch(files[n], n)) for n in TRAIN_BATCHES]
    test = [("test_batch", _load_batch(files["test_batch"], "test_batch"))]
    splits = {"train": _split_from_batches(train, size), "test": _split_from_batches(test, size)}
    return RawDataset(splits, classes, "pickles")


def _class_order(names: Iterable[str]) -> list[str]:
    names = sorted(set(names))
    # The CIFAR-10 folder names get torchvision's label order; anything else is sorted.
    if set(names) == set(CIFAR10_CLASSES):
        return list(CIFAR10_CLASSES)
    return names


def _read_class_files(entries: Iterable[tuple[str, bytes]], size: int, layout: str) -> RawDataset:
    """entries: (posix path like 'train/cat/0001.jpg', file bytes) from folders or archives."""
    grouped: dict[str, dict[str, list[tuple[str, bytes]]]] = {s: {} for s in SPLITS}
    for path, data in entries:
        parts = PurePosixPath(path).parts
        # find '<split>/<class>/<file>' anywhere in the path (archives may add a prefix)
        for i in range(len(parts) - 2):
            if parts[i] in SPLITS and i + 3 == len(parts):
                grouped[parts[i]].setdefault(parts[i + 1], []).append((path, data))
                break
    classes = _class_order([c for s in SPLITS for c in grouped[s]])
    splits = {}
    for split in SPLITS:
        if not grouped[split]:
            raise UserError(f"no {split}/<class>/ image folders found ({layout})")
        images, labels = [], []
        for label, cls in enumerate(classes):
            files = sorted(grouped[split].get(cls, []))
            if not files:
                raise UserError(f"{split}/{cls}: class folder has no images")
            for name, data in files:
                images.append(decode_image(data, name, size))
                labels.append(label)
        splits[split] = Split(np.stack(images), np.asarray(labels, dtype=np.int64))
    return RawDataset(splits, classes, layout)


def _folder_entries(root: Path) -> Iterator[tuple[str, bytes]]:
    for split in SPLITS:
        base = root / split
        if not base.is_dir():
            continue
        for cls in sorted(p for p in base.iterdir() if p.is_dir()):
            files = sorted(p for p in cls.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise UserError(f"{cls}: class folder has no images")
            for file in files:
                yield f"{split}/{cls.name}/{file.name}", file.read_bytes()


def _archive_entries(archives: list[Path]) -> Iterator[tuple[str, bytes]]:
    for archive in archives:
        try:
            with tarfile.open(archive, "r:*") as tar:
                for member in tar:
                    if member.isfile() and PurePosixPath(member.name).suffix.lower() in IMAGE_SUFFIXES:
                        handle = tar.extractfile(member)
                        yield member.name, handle.read() if handle else b""
        except (tarfile.TarError, EOFError, OSError) as err:
            raise UserError(f"{archive}: unreadable archive ({err})") from None


def _python_archive_files(archive: Path) -> dict[str, bytes]:
    files = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = PurePosixPath(member.name).name
                if member.isfile() and (name in TRAIN_BATCHES or name in {"test_batch", "batches.meta"}):
                    files[name] = tar.extractfile(member).read()  # type: ignore[union-attr]
    except (tarfile.TarError, EOFError, OSError) as err:
        raise UserError(f"{archive}: unreadable archive ({err})") from None
    return files


def find_layout(raw_dir: Path) -> str | None:
    """Name of the first layout present in raw_dir, or None."""
    if (raw_dir / PICKLE_DIR / "data_batch_1").is_file() or (raw_dir / "data_batch_1").is_file():
        return "pickles"
    if (raw_dir / PYTHON_ARCHIVE).is_file():
        return "python-archive"
    if any((raw_dir / s).is_dir() for s in SPLITS):
        return "folders"
    if _image_archives(raw_dir):
        return "archives"
    return None


def _image_archives(raw_dir: Path) -> list[Path]:
    return sorted(p for p in raw_dir.glob("*.tar*") if p.name != PYTHON_ARCHIVE and p.is_file()) + sorted(
        p for p in raw_dir.glob("*.tgz") if p.is_file()
    )


def read_cifar10(raw_dir: str | Path, size: int = 32, download: bool = True) -> RawDataset:
    """Read CIFAR-10 from raw_dir in whichever layout is there (module docstring)."""
    raw_dir = Path(raw_dir)
    layout = find_layout(raw_dir) if raw_dir.is_dir() else None
    if layout is None and download:
        _download(raw_dir)
        layout = find_layout(raw_dir)
    if layout is None:
        raise UserError(_missing_message(raw_dir))
    if layout == "pickles":
        base = raw_dir / PICKLE_DIR if (raw_dir / PICKLE_DIR).is_dir() else raw_dir
        files = {p.name: p.read_bytes() for p in base.iterdir() if p.is_file()}
        return _read_pickles(files, size)
    if layout == "python-archive":
        dataset = _read_pickles(_python_archive_files(raw_dir / PYTHON_ARCHIVE), size)
        dataset.layout = layout
        return dataset
    if layout == "folders":
        return _read_class_files(_folder_entries(raw_dir), size, f"folders in {raw_dir}")
    return _read_class_files(_archive_entries(_image_archives(raw_dir)), size, f"archives in {raw_dir}")


def _missing_message(raw_dir: Path) -> str:
    return (
        f"{raw_dir}: no CIFAR-10 found. Put one of these there: {PYTHON_ARCHIVE} "
        f"(https://www.cs.toronto.edu/~kriz/{PYTHON_ARCHIVE}), its {PICKLE_DIR}/ folder, "
        "train/<class>/*.jpg + test/<class>/*.jpg folders, or .tar.gz archives of them "
        f"(with the shared data: cp ../shared/data/cifar10-jpg/*.tar.gz {raw_dir}/)"
    )


def _download(raw_dir: Path) -> None:
    """torchvision's download; on a machine without network this fails, and we say where to put files."""
    from torchvision.datasets import CIFAR10

    raw_dir.mkdir(parents=True, exist_ok=True)
    try:
        CIFAR10(root=str(raw_dir), train=True, download=True)
    except Exception as err:  # URLError, timeouts, checksum failures
        raise UserError(f"download failed ({type(err).__name__}); " + _missing_message(raw_dir)) from None
