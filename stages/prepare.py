"""Stage `prepare`: raw dataset -> data/prepared/<name>/ (uint8 arrays, labels, classes).

python -m stages.prepare [--params params.yaml] [--out DIR]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from stages.config import DataConfig, DataKind, load_params, to_plain
from stages.data.dataset import save_prepared
from stages.data.readers import RawDataset, read_cifar10
from stages.data.shapes import make_shapes
from stages.errors import run_main

log = logging.getLogger("prepare")


def prepared_dir(data: DataConfig) -> Path:
    return Path("data/prepared") / data.name


def read_raw(data: DataConfig) -> RawDataset:
    if data.kind == DataKind.shapes:
        return make_shapes(data.n_train, data.n_test, data.image_size, data.seed)
    return read_cifar10(data.raw_dir, data.image_size, download=data.download)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default=None, help="output folder (default data/prepared/<name>)")
    args = parser.parse_args(argv)
    cfg = load_params(args.params)
    out = Path(args.out) if args.out else prepared_dir(cfg.data)
    log.info("reading %s (%s)", cfg.data.name, cfg.data.kind.value)
    dataset = read_raw(cfg.data)
    save_prepared(dataset, out, {"data": to_plain(cfg.data)})
    counts = {split: len(s.labels) for split, s in dataset.splits.items()}
    log.info("wrote %s: %s images, %d classes (%s)", out, counts, len(dataset.classes), dataset.layout)


if __name__ == "__main__":
    run_main(main)
