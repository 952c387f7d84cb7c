"""Stage `train_cyclegan`: data/domains/<name>/ -> artifacts/cyclegan/<name>.pt.

python -m stages.train_cyclegan [--params params.yaml]

Also writes reports/cyclegan/losses.csv (per logged step, for `dvc plots`), train.json
(seconds, images per second) and snapshots/step_*.png (photo | translated | rebuilt for
eight held-out photos, every cyclegan.snapshot_every steps). A resumable checkpoint lives
in checkpoints/cyclegan/<name>.pt until the run finishes.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

import numpy as np

from stages.config import fingerprint, load_params, to_plain
from stages.device import resolve_device, set_threads
from stages.domains import domains_dir
from stages.errors import UserError, run_main
from stages.io import atomic_path, sha256_file, write_json
from stages.translation import save_generators, train_cyclegan, write_losses

log = logging.getLogger("train_cyclegan")

REPORTS = Path("reports/cyclegan")
SNAPSHOT_PHOTOS = 8


def cyclegan_path(name: str) -> Path:
    return Path("artifacts/cyclegan") / f"{name}.pt"


def load_domains(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A images, B images, held-out indices of A) as prepare_domains wrote them."""
    folder = domains_dir(name)
    files = [folder / f for f in ("a.npy", "b.npy", "a_test.npy")]
    for path in files:
        if not path.is_file():
            raise UserError(f"{path}: not found (run `dvc repro prepare_domains` first)")
    a, b, test = (np.load(path, allow_pickle=False) for path in files)
    return a, b, test


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg = load_params(args.params)
    c = cfg.cyclegan
    set_threads(cfg.train.num_threads)
    device = resolve_device(c.device)
    images_a, images_b, test = load_domains(cfg.domains.name)
    train_a = np.delete(images_a, test, axis=0)  # held-out photos are never trained on
    data_hash = (
        sha256_file(domains_dir(cfg.domains.name) / "a.npy")[:16]
        + sha256_file(domains_dir(cfg.domains.name) / "b.npy")[:16]
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
    work = Path("checkpoints/cyclegan")
    snapshots = work / f"{cfg.domains.name}-snapshots"  # moved to reports/ when the run ends
    run = train_cyclegan(
        c,
        train_a,
        images_b,
        images_a[test[:SNAPSHOT_PHOTOS]],
        device,
        work / f"{cfg.domains.name}.pt",
        fingerprint(to_plain(c), data_hash),
        snapshots,
    )
    with atomic_path(REPORTS / "snapshots") as tmp:
        shutil.copytree(snapshots, tmp)
    save_generators(run, cyclegan_path(cfg.domains.name), {"domains": to_plain(cfg.domains)})
    write_losses(run.rows, REPORTS / "losses.csv")
    images = run.steps * c.batch_size * 2  # one image of each domain per batch item
    write_json(
        REPORTS / "train.json",
        {
            "steps": run.steps,
            "batch_size": c.batch_size,
            "train_seconds": round(run.seconds, 1),
            "images_per_second": round(images / run.seconds, 1) if run.seconds else None,
            "device": device.type,
            "final": {k: round(v, 4) for k, v in run.rows[-1].items() if k not in ("step", "lr")},
        },
    )
    (work / f"{cfg.domains.name}.pt").unlink(missing_ok=True)
    shutil.rmtree(snapshots)
    log.info("done: %d steps in %.0f s (%.1f img/s)", run.steps, run.seconds, images / max(run.seconds, 1e-9))


if __name__ == "__main__":
    run_main(main)
