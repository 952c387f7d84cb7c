"""Stage `trainset`: the set the GANs train on = filtered images + extra images, oversampled.

    python -m stages.trainset

Reads data/filtered/<name>/ (the `outliers` stage), appends the user's images
(extra.images with extra.label, extra.mat with its y or extra.label), then resamples
(oversample.target / balance) and writes data/trainset/<name>/ and
reports/trainset.json (per-class counts after each step). Featurenet and the FID
reference statistics keep using the untouched prepared data, so every ablation is scored
against the same reference.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from stages.core import paths
from stages.core.errors import UserError
from stages.core.io import write_json
from stages.core.schema import Config, to_plain
from stages.core.stage import stage_main
from stages.data.curate import class_counts, class_index, oversample_indices, read_image_folder
from stages.data.dataset import ImageSet, load_prepared, save_train_split
from stages.data.folder import read_mat

log = logging.getLogger("trainset")


def check_inputs(cfg: Config, n_images: int) -> None:
    """Input errors before any image is read: missing paths, too small a target."""
    x = cfg.extra
    for key, value, exists in (
        ("extra.images", x.images, Path(x.images).is_dir()),
        ("extra.mat", x.mat, Path(x.mat).is_file()),
    ):
        if value and not exists:
            raise UserError(f"{key}={value!r}: no such {'folder' if key == 'extra.images' else 'file'}")
        if value and not Path(value).resolve().is_relative_to(paths.EXTRA_ROOT.resolve()):
            log.warning(
                "%s=%s is outside %s/: DVC will not see its files change", key, value, paths.EXTRA_ROOT
            )
    o = cfg.oversample
    if o.target and not o.balance:
        oversample_indices(torch.zeros(n_images, dtype=torch.int64), 1, o.target, False, o.seed)


def append(data: ImageSet, images: np.ndarray, labels: np.ndarray) -> ImageSet:
    return ImageSet(
        torch.cat([data.images, torch.from_numpy(images)]),
        torch.cat([data.labels, torch.from_numpy(labels)]),
        data.classes,
    )


def run(cfg: Config) -> dict:
    data = load_prepared(paths.filtered_dir(cfg.data.name), "train")
    x, size = cfg.extra, data.images.shape[-1]
    check_inputs(cfg, len(data))  # before reading anything large
    label = class_index(data.classes, x.label, "extra.label") if x.label else None
    report: dict = {"filtered": class_counts(data.labels, data.classes)}
    if x.images:
        images = read_image_folder(x.images, size)
        data = append(data, images, np.full(len(images), label, dtype=np.int64))
        report["extra_images"] = len(images)
    if x.mat:
        images, labels = read_mat(x.mat, size, len(data.classes))
        data = append(data, images, labels if label is None else np.full(len(images), label, np.int64))
        report["extra_mat"] = len(images)
    o = cfg.oversample
    if o.target or o.balance:
        index = oversample_indices(data.labels, len(data.classes), o.target, o.balance, o.seed)
        data = ImageSet(data.images[index], data.labels[index], data.classes)
    report["trainset"] = class_counts(data.labels, data.classes)
    report["total"] = len(data)
    meta = {"extra": to_plain(cfg.extra), "oversample": to_plain(cfg.oversample)}
    save_train_split(data, paths.trainset_dir(cfg.data.name), "trainset", meta)
    write_json(paths.TRAINSET_REPORT, report)
    log.info("training set: %d images", len(data))
    return report


if __name__ == "__main__":
    stage_main(run)
