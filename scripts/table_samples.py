"""One picture of every family in a `make table` run: a row of samples per family, best FID first.

    python scripts/table_samples.py reports/table

reads the run's leaderboard.csv and each family's samples/<family>/grid.png, and writes
samples.png beside them: row i holds the first image of each row of family i's fixed-noise
grid (ten random samples; for a conditional model, one of each class), named on the left
with the family and its FID.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stages.data.images import save_grid  # noqa: E402

PAD = 2  # save_grid's padding, between and around the images


def first_column(grid_path: Path, image_size: int) -> torch.Tensor:
    """The first image of each row of a save_grid picture, as uint8 (rows, 3, size, size). The
    images sit at the right: a conditional grid has its class names in a margin on the left."""
    picture = np.asarray(Image.open(grid_path).convert("RGB"))
    cell = image_size + PAD
    height, width, _ = picture.shape
    if (height - PAD) % cell or width < height:
        raise SystemExit(f"{grid_path}: {width}x{height} px is not a grid of {image_size}-px images")
    rows = (height - PAD) // cell
    left = width - (rows * cell + PAD) + PAD  # square grids: as many columns as rows
    tiles = [
        picture[PAD + r * cell : PAD + r * cell + image_size, left : left + image_size] for r in range(rows)
    ]
    return torch.from_numpy(np.stack(tiles)).permute(0, 3, 1, 2).contiguous()


def table_samples(run_dir: Path, image_size: int = 32) -> Path:
    board_path = run_dir / "leaderboard.csv"
    if not board_path.is_file():
        raise SystemExit(f"{board_path}: no such file (run `make table` first)")
    board = pd.read_csv(board_path).sort_values("fid", kind="stable")
    rows, names = [], []
    for family, fid in zip(board["model"], board["fid"], strict=True):
        grid_path = run_dir / "samples" / family / "grid.png"
        if not grid_path.is_file():
            raise SystemExit(f"{grid_path}: no such file: the leaderboard lists {family}")
        rows.append(first_column(grid_path, image_size))
        names.append(f"{family} {fid:.1f}")
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        raise SystemExit(f"{run_dir}: the families' grids hold different numbers of rows: {sorted(widths)}")
    out = run_dir / "samples.png"
    save_grid(torch.cat(rows), out, nrow=widths.pop(), row_names=names)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a `make table` output folder, e.g. reports/table")
    args = parser.parse_args(argv)
    print(table_samples(args.run_dir))


if __name__ == "__main__":
    main()
