"""Stage `outliers`: drop the training images an autoencoder reconstructs worst.

    python -m stages.outliers

Reads data/prepared/<name>/ and writes data/filtered/<name>/ (the kept training images,
in their original order), reports/outliers/counts.json (kept and dropped per class, the
error threshold) and, when anything is dropped, reports/outliers/dropped.png: the dropped
images, worst first. outliers.fraction=0 passes the training split through unchanged and
trains nothing. An interrupted run resumes from the last finished epoch.
"""

from __future__ import annotations

import logging

import torch

from stages.core import paths
from stages.core.checkpoint import Checkpoint
from stages.core.device import resolve_device, set_threads
from stages.core.io import atomic_path, write_json
from stages.core.schema import Config, fingerprint, to_plain
from stages.core.stage import stage_main
from stages.data.curate import class_counts, keep_mask, reconstruction_errors, train_autoencoder
from stages.data.dataset import ImageSet, dataset_fingerprint, load_prepared, save_train_split
from stages.data.images import save_grid

log = logging.getLogger("outliers")

GRID_MAX = 100  # dropped images shown in the grid (the worst ones)


def score(cfg: Config, data: ImageSet, device: torch.device, progress: bool) -> torch.Tensor:
    """Reconstruction error of every training image, with a resumable autoencoder run."""
    run_id = fingerprint(cfg.outliers, dataset_fingerprint(paths.prepared_dir(cfg.data.name)))
    checkpoint = Checkpoint(paths.outliers_checkpoint(cfg.data.name), run_id)
    saved = checkpoint.load()
    resume = None if saved is None else saved["state"]
    if resume is not None:
        log.info("resuming the autoencoder after epoch %d", resume["epoch"])

    def on_epoch(epoch: int, state: dict) -> None:
        checkpoint.save({"state": state})

    model = train_autoencoder(cfg.outliers, data, device, resume, on_epoch, progress)
    errors = reconstruction_errors(model, data, device)
    checkpoint.remove()
    return errors


def run(cfg: Config, progress: bool = True) -> dict:
    set_threads(cfg.train.num_threads)
    data = load_prepared(paths.prepared_dir(cfg.data.name), "train")
    fraction = cfg.outliers.fraction
    report: dict = {"fraction": fraction, "images": len(data)}
    if fraction == 0:
        keep = torch.ones(len(data), dtype=torch.bool)
    else:
        device = resolve_device(cfg.outliers.device)
        log.info("autoencoder on %d images, %d epochs, device %s", len(data), cfg.outliers.epochs, device)
        errors = score(cfg, data, device, progress)
        keep = keep_mask(errors, fraction)
        worst = torch.argsort(errors, descending=True, stable=True)[: min(GRID_MAX, int((~keep).sum()))]
        report["error_threshold"] = round(float(errors[keep].max()), 6)
        report["error_mean"] = round(float(errors.mean()), 6)
    kept = ImageSet(data.images[keep], data.labels[keep], data.classes)
    dropped = data.labels[~keep]
    report["kept"] = class_counts(kept.labels, data.classes)
    report["dropped"] = class_counts(dropped, data.classes)
    report["kept_total"], report["dropped_total"] = len(kept), len(dropped)
    save_train_split(
        kept, paths.filtered_dir(cfg.data.name), "outliers", {"outliers": to_plain(cfg.outliers)}
    )
    with atomic_path(paths.OUTLIER_REPORTS) as tmp:  # the folder whole: no dropped.png of an earlier run
        if fraction > 0 and len(worst):
            save_grid(data.images[worst], tmp / "dropped.png", nrow=10)
        write_json(tmp / "counts.json", report)
    log.info("kept %d, dropped %d (fraction %.3f)", len(kept), len(dropped), fraction)
    return report


if __name__ == "__main__":
    stage_main(run)
