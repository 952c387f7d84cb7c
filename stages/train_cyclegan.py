"""Stage `train_cyclegan`: data/domains/<name>/ -> artifacts/cyclegan/<name>.pt.

python -m stages.train_cyclegan [--params params.yaml]

Also writes reports/cyclegan/losses.csv (per logged step, for `dvc plots`), train.json
(seconds, images per second) and snapshots/step_*.png (photo | translated | rebuilt for
eight held-out photos, every cyclegan.snapshot_every steps). A resumable checkpoint lives
in checkpoints/cyclegan/<name>.pt until the run finishes.
"""

from __future__ import annotations

import logging
import shutil

import numpy as np

from stages.core import paths
from stages.core.device import resolve_device, set_threads
from stages.core.io import atomic_path, sha256_file, write_json, write_text
from stages.core.schema import Config, fingerprint, to_plain
from stages.core.stage import stage_main
from stages.cyclegan.loop import losses_csv, train_cyclegan
from stages.cyclegan.translation import save_generators
from stages.data.domains import load_domains

log = logging.getLogger("train_cyclegan")

SNAPSHOT_PHOTOS = 8


def run(cfg: Config) -> None:
    c = cfg.cyclegan
    set_threads(cfg.train.num_threads)
    device = resolve_device(c.device)
    images_a, images_b, test = load_domains(cfg.domains.name)
    train_a = np.delete(images_a, test, axis=0)  # held-out photos are never trained on
    data_hash = (
        sha256_file(paths.domains_dir(cfg.domains.name) / "a.npy")[:16]
        + sha256_file(paths.domains_dir(cfg.domains.name) / "b.npy")[:16]
    )
    log.info(
        "CycleGAN %s: %d A / %d B images at %d px, %d steps, device %s",
        cfg.domains.name,
        len(train_a),
        len(images_b),
        images_a.shape[1],
        c.steps,
        device,
    )
    checkpoint = paths.cyclegan_checkpoint(cfg.domains.name)
    snapshots = paths.cyclegan_snapshot_work(cfg.domains.name)  # moved to reports/ when the run ends
    result = train_cyclegan(
        c,
        train_a,
        images_b,
        images_a[test[:SNAPSHOT_PHOTOS]],
        device,
        checkpoint,
        fingerprint(to_plain(c), data_hash),
        snapshots,
    )
    with atomic_path(paths.CYCLEGAN_REPORTS / "snapshots") as tmp:
        shutil.copytree(snapshots, tmp)
    model = result.model
    save_generators(
        model.g_ab,
        model.g_ba,
        model.info | {"domains": to_plain(cfg.domains)},
        paths.cyclegan_path(cfg.domains.name),
    )
    write_text(paths.CYCLEGAN_REPORTS / "losses.csv", losses_csv(result.rows))
    images = result.steps * c.batch_size * 2  # one image of each domain per batch item
    write_json(
        paths.CYCLEGAN_REPORTS / "train.json",
        {
            "steps": result.steps,
            "batch_size": c.batch_size,
            "train_seconds": round(result.seconds, 1),
            "images_per_second": round(images / result.seconds, 1) if result.seconds else None,
            "device": device.type,
            "final": {k: round(v, 4) for k, v in result.rows[-1].items() if k not in ("step", "lr")},
        },
    )
    checkpoint.unlink(missing_ok=True)
    shutil.rmtree(snapshots)
    log.info(
        "done: %d steps in %.0f s (%.1f img/s)",
        result.steps,
        result.seconds,
        images / max(result.seconds, 1e-9),
    )


if __name__ == "__main__":
    stage_main(run)
