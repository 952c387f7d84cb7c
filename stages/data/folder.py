"""Datasets of one's own: a folder of images, and SVHN's .mat files.

`read_folder` takes any of these layouts under data.raw_dir, in this order:
  1. train/<class>/ and test/<class>/ folders (as CIFAR-10 as JPEGs is laid out),
  2. train/<class>/ alone, or <class>/ folders at the top: a seeded share held out per class,
  3. a flat folder of images: one class, named after the folder, a share held out.
Every image, of any size and mode, is centre-cropped to a square and resized (bicubic) to
data.image_size; files are read in sorted order and the held-out share is drawn from a
seeded permutation per class, so the same folder and params give the same bytes anywhere.

`read_svhn` reads train_32x32.mat and test_32x32.mat (Netzer et al. 2011), whose labels
run 1..10 with 10 meaning the digit 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from stages.core.errors import UserError
from stages.data.domains import held_out
from stages.data.readers import (
    IMAGE_SUFFIXES,
    RawDataset,
    Split,
    _class_order,
    _folder_entries,
    _read_class_files,
    decode_image,
    image_to_array,
)

SVHN_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}
SVHN_CLASSES = [str(digit) for digit in range(10)]


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_folder(raw_dir: str | Path, size: int, test_fraction: float, seed: int) -> RawDataset:
    root = Path(raw_dir)
    if not root.is_dir():
        raise UserError(
            f"{root}: no such folder (data.raw_dir); put your images there, flat or in class folders"
        )
    if (root / "train").is_dir() and (root / "test").is_dir():
        return _read_class_files(_folder_entries(root), size, f"folders in {root}")
    base = root / "train" if (root / "train").is_dir() else root
    in_dirs = {d: _images_in(d) for d in sorted(base.iterdir()) if d.is_dir()}
    class_dirs = [d for d, files in in_dirs.items() if files]
    loose = _images_in(base)
    if class_dirs and loose:
        raise UserError(
            f"{base}: holds both class folders ({class_dirs[0].name}/, ...) and loose images "
            f"({loose[0].name}, ...); keep one layout"
        )
    groups = {d.name: in_dirs[d] for d in class_dirs} if class_dirs else {root.name: loose}
    if not any(groups.values()):
        raise UserError(
            f"{base}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder or its class folders"
        )
    classes = _class_order(groups)
    splits: dict[str, tuple[list[np.ndarray], list[int]]] = {"train": ([], []), "test": ([], [])}
    for label, name in enumerate(classes):
        files = groups[name]
        if len(files) < 2:
            raise UserError(
                f"{base / name if class_dirs else base}: {len(files)} image; "
                "a class needs 2 or more (one is held out)"
            )
        test = set(held_out(len(files), test_fraction, seed + label).tolist())
        for index, path in enumerate(files):
            images, labels = splits["test" if index in test else "train"]
            images.append(decode_image(path.read_bytes(), str(path), size))
            labels.append(label)
    layout = f"{'class folders' if class_dirs else 'a flat folder'} in {base}, {test_fraction:g} held out"
    return RawDataset(
        {
            s: Split(np.stack(images), np.asarray(labels, dtype=np.int64))
            for s, (images, labels) in splits.items()
        },
        classes,
        layout,
    )


def read_mat(
    path: str | Path, size: int, n_classes: int, key: str = "extra.mat"
) -> tuple[np.ndarray, np.ndarray]:
    """An SVHN-style .mat: X (H, W, 3, N) uint8 and y (N,) or (N, 1) class indices in
    [0, n_classes), or SVHN's own convention for 10 classes: 1..10 with 10 meaning the
    digit 0 (read when y holds 10 and no 0). Returns (images (N, 3, size, size) uint8,
    labels (N,) int64)."""
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{key}={str(path)!r}: no such file")
    try:
        mat = loadmat(path)
    except Exception as err:  # scipy raises several types for a bad file
        raise UserError(f"{path}: not a readable .mat file ({str(err).splitlines()[0]})") from None
    missing = [k for k in ("X", "y") if k not in mat]
    if missing:
        raise UserError(f"{path}: no {' or '.join(missing)} array (an SVHN-style .mat has X and y)")
    x, y = mat["X"], np.asarray(mat["y"]).reshape(-1)
    if x.ndim != 4 or x.shape[2] != 3:
        raise UserError(f"{path}: X has shape {x.shape}; expected (H, W, 3, N) as in SVHN")
    if len(y) != x.shape[3]:
        raise UserError(f"{path}: y has {len(y)} labels for {x.shape[3]} images in X")
    if n_classes == 10 and len(y) and (y == 10).any() and not (y == 0).any():
        y = np.where(y == 10, 0, y)  # SVHN: label 10 is the digit 0
    if len(y) and (y.min() < 0 or y.max() >= n_classes or not np.all(np.equal(np.mod(y, 1), 0))):
        raise UserError(
            f"{path}: y must hold class indices in [0, {n_classes}) (found {y.min()}..{y.max()}); "
            "set extra.label to give every image one class"
        )
    images = (
        np.stack(
            [
                image_to_array(Image.fromarray(np.ascontiguousarray(x[..., i]).astype(np.uint8)), size)
                for i in range(x.shape[3])
            ]
        )
        if x.shape[3]
        else np.zeros((0, 3, size, size), np.uint8)
    )
    return images, y.astype(np.int64)


def read_svhn(raw_dir: str | Path, size: int) -> RawDataset:
    root = Path(raw_dir)
    missing = [name for name in SVHN_FILES.values() if not (root / name).is_file()]
    if missing:
        raise UserError(
            f"{root}: no {' or '.join(missing)}; download them from "
            "http://ufldl.stanford.edu/housenumbers/ into that folder"
        )
    splits = {}
    for split, name in SVHN_FILES.items():
        images, labels = read_mat(root / name, size, len(SVHN_CLASSES), key=f"data.raw_dir ({split})")
        order = np.argsort(labels, kind="stable")  # canonical: by label, stable within a label
        splits[split] = Split(np.ascontiguousarray(images[order]), labels[order])
    return RawDataset(splits, list(SVHN_CLASSES), "svhn .mat files")
