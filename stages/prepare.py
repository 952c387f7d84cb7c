"""Stage `prepare`: raw dataset -> data/prepared/<name>/ (uint8 arrays, labels, classes).

python -m stages.prepare [--params params.yaml] [--out DIR]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from stages.core.paths import prepared_dir
from stages.core.schema import Config, DataConfig, DataKind, to_plain
from stages.core.stage import stage_main
from stages.data.dataset import save_prepared
from stages.data.folder import read_folder, read_svhn
from stages.data.readers import RawDataset, read_cifar10
from stages.data.shapes import make_shapes

log = logging.getLogger("prepare")


def read_raw(data: DataConfig) -> RawDataset:
    if data.kind == DataKind.shapes:
        return make_shapes(data.n_train, data.n_test, data.image_size, data.seed)
    if data.kind == DataKind.folder:
        return read_folder(data.raw_dir, data.image_size, data.test_fraction, data.seed)
    if data.kind == DataKind.svhn:
        return read_svhn(data.raw_dir, data.image_size)
    return read_cifar10(data.raw_dir, data.image_size, download=data.download)


def output_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=None, help="output folder (default data/prepared/<name>)")


def run(cfg: Config, out: str | None = None) -> None:
    out = Path(out) if out else prepared_dir(cfg.data.name)
    log.info("reading %s (%s)", cfg.data.name, cfg.data.kind.value)
    dataset = read_raw(cfg.data)
    data = to_plain(cfg.data)
    if cfg.data.kind != DataKind.folder:
        del data["test_fraction"]  # folder-only: other kinds' prepared bytes do not depend on it
    save_prepared(dataset, out, {"data": data})
    counts = {split: len(s.labels) for split, s in dataset.splits.items()}
    log.info("wrote %s: %s images, %d classes (%s)", out, counts, len(dataset.classes), dataset.layout)


if __name__ == "__main__":
    stage_main(run, options=output_option)
