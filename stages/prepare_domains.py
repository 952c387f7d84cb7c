"""Stage `prepare_domains`: two image folders -> data/domains/<name>/ for CycleGAN.

python -m stages.prepare_domains [--params params.yaml]

Writes a.npy and b.npy ((N, S, S, 3) uint8), a_test.npy (held-out indices of A) and
names.json (source file names, in order), all at once: a failure leaves no folder.
"""

from __future__ import annotations

import logging

import numpy as np

from stages.core.errors import UserError
from stages.core.io import atomic_path, write_json
from stages.core.paths import domains_dir
from stages.core.schema import Config, to_plain
from stages.core.stage import stage_main
from stages.data.domains import held_out, read_domain

log = logging.getLogger("prepare_domains")


def run(params: Config) -> None:
    cfg = params.domains
    images_a, names_a = read_domain(cfg.a, cfg, "a")
    images_b, names_b = read_domain(cfg.b, cfg, "b")
    if len(images_a) < 2:
        raise UserError(f"{cfg.a}: {len(images_a)} image; domain A needs 2 or more (one is held out)")
    test = held_out(len(images_a), cfg.test_fraction, cfg.seed)
    with atomic_path(domains_dir(cfg.name)) as tmp:
        tmp.mkdir(parents=True)
        np.save(tmp / "a.npy", images_a, allow_pickle=False)
        np.save(tmp / "b.npy", images_b, allow_pickle=False)
        np.save(tmp / "a_test.npy", test.astype(np.int64), allow_pickle=False)
        write_json(tmp / "names.json", {"a": names_a, "b": names_b, "domains": to_plain(cfg)})
    log.info(
        "wrote %s: A %d images (%d held out), B %d images, %d px",
        domains_dir(cfg.name),
        len(images_a),
        len(test),
        len(images_b),
        cfg.image_size,
    )


if __name__ == "__main__":
    stage_main(run)
