"""A generated dataset: 10 classes of coloured shapes on textured backgrounds.

Made from a seed with NumPy alone, so tests and smoke runs need no files and every
machine produces the same bytes. The classes differ by shape, so a classifier can learn
them and class-conditional models have something to condition on.
"""

from __future__ import annotations

import numpy as np

from stages.data.readers import RawDataset, Split

SHAPE_CLASSES = (
    "circle",
    "square",
    "triangle",
    "diamond",
    "cross",
    "ring",
    "hbar",
    "vbar",
    "xcross",
    "halfdisc",
)


def _mask(shape: str, yy: np.ndarray, xx: np.ndarray, r: float) -> np.ndarray:
    """Boolean mask of a shape centred at 0 with radius r on coordinate grids yy, xx."""
    ax, ay = np.abs(xx), np.abs(yy)
    thick = max(r * 0.35, 1.0)
    if shape == "circle":
        return xx**2 + yy**2 <= r**2
    if shape == "square":
        return (ax <= r * 0.8) & (ay <= r * 0.8)
    if shape == "triangle":
        return (yy <= r * 0.8) & (yy >= -r) & (ax <= (yy + r) * 0.55)
    if shape == "diamond":
        return ax + ay <= r
    if shape == "cross":
        return ((ax <= thick / 2) & (ay <= r)) | ((ay <= thick / 2) & (ax <= r))
    if shape == "ring":
        d2 = xx**2 + yy**2
        return (d2 <= r**2) & (d2 >= (r * 0.55) ** 2)
    if shape == "hbar":
        return (ax <= r) & (ay <= thick / 2)
    if shape == "vbar":
        return (ay <= r) & (ax <= thick / 2)
    if shape == "xcross":
        return ((np.abs(xx - yy) <= thick * 0.7) | (np.abs(xx + yy) <= thick * 0.7)) & (ax <= r) & (ay <= r)
    if shape == "halfdisc":
        return (xx**2 + yy**2 <= r**2) & (yy >= 0)
    raise ValueError(shape)


def _image(rng: np.random.Generator, label: int, size: int) -> np.ndarray:
    coords = np.arange(size, dtype=np.float32)
    # textured background: two colours mixed by a random low-frequency stripe pattern
    bg_a, bg_b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    freq, phase, angle = rng.uniform(0.15, 0.6), rng.uniform(0, 2 * np.pi), rng.uniform(0, np.pi)
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    wave = 0.5 + 0.5 * np.sin(freq * (np.cos(angle) * xx + np.sin(angle) * yy) + phase)
    img = bg_a[:, None, None] * wave + bg_b[:, None, None] * (1 - wave)
    img += rng.normal(0, 8, (3, size, size))
    # the shape: random colour, position and size
    r = rng.uniform(0.22, 0.38) * size
    cy, cx = rng.uniform(r, size - r, 2)
    mask = _mask(SHAPE_CLASSES[label], yy - cy, xx - cx, r)
    colour = rng.uniform(0, 255, 3)
    img = np.where(mask[None], colour[:, None, None], img)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def make_shapes(n_train: int, n_test: int, size: int = 32, seed: int = 0) -> RawDataset:
    """Generate the dataset: labels cycle through the 10 classes, sorted by label."""
    splits = {}
    for offset, (split, count) in enumerate((("train", n_train), ("test", n_test))):
        rng = np.random.default_rng([seed, offset])
        labels = np.sort(np.arange(count, dtype=np.int64) % len(SHAPE_CLASSES), kind="stable")
        images = np.stack([_image(rng, int(label), size) for label in labels])
        splits[split] = Split(images, labels)
    return RawDataset(splits, list(SHAPE_CLASSES), "generated")
