"""Stage `reference_stats`: features of the reference split, computed once and cached.

    python -m stages.reference_stats

Writes data/reference_stats/<dataset>/stats.pt (torchmetrics FID state and the KID
reference features) and protocol.json (backbone, weights sha256, split, count). DVC
caches it per (dataset, split, backbone, count): evaluating a new model never
recomputes it.
"""

from __future__ import annotations

import logging
import time

import torch

from stages.core import paths
from stages.core.device import resolve_device, set_threads
from stages.core.io import atomic_path, write_json
from stages.core.schema import Config
from stages.core.stage import stage_main
from stages.data.dataset import dataset_fingerprint, load_prepared
from stages.metrics.backbones import load_backbone
from stages.metrics.features import extract_features
from stages.metrics.fid import reference_statistics

log = logging.getLogger("reference_stats")

KID_REFERENCE_CAP = 10000  # KID subsets are drawn from at most this many reference images


def run(cfg: Config) -> dict:
    set_threads(cfg.train.num_threads)
    device = resolve_device(cfg.eval.device)
    split = cfg.eval.reference_split.value
    data = load_prepared(paths.prepared_dir(cfg.data.name), split)
    count = len(data) if cfg.eval.n_reference == 0 else min(cfg.eval.n_reference, len(data))
    if count < cfg.eval.kid_subset_size:  # a small dataset of one's own: smaller KID subsets
        log.warning(
            "eval.kid_subset_size=%d exceeds the %d reference images: KID uses subsets of %d "
            "(the protocol says so)",
            cfg.eval.kid_subset_size,
            count,
            count,
        )
    # A seeded subset (sorted, so it reads the arrays in order) when n_reference < split size.
    chosen = (
        torch.randperm(len(data), generator=torch.Generator().manual_seed(cfg.eval.seed))[:count]
        .sort()
        .values
    )
    backbone = load_backbone(cfg.eval, paths.featurenet_path(cfg.data.name))
    log.info("features of %d %s images with %s on %s", count, split, backbone.info.name, device)
    tick = time.perf_counter()
    batches = (data.images[chosen[i : i + cfg.eval.batch_size]] for i in range(0, count, cfg.eval.batch_size))
    features = extract_features(backbone, batches, device)
    seconds = time.perf_counter() - tick
    stats = reference_statistics(features, KID_REFERENCE_CAP, cfg.eval.seed, data.labels[chosen])
    protocol = {
        "backbone": backbone.info.as_dict(),
        "dataset": cfg.data.name,
        "dataset_sha256": dataset_fingerprint(paths.prepared_dir(cfg.data.name)),
        "reference_split": split,
        "n_reference": count,
        "n_kid_reference": len(stats["kid_features"]),
        "seed": cfg.eval.seed,
    }
    with atomic_path(paths.reference_stats_dir(cfg.data.name)) as tmp:
        tmp.mkdir(parents=True)
        torch.save(stats, tmp / "stats.pt")
        write_json(tmp / "protocol.json", protocol)
    log.info("%d reference features in %.1f s", count, seconds)
    return protocol


if __name__ == "__main__":
    stage_main(run)
