"""scripts/table_samples.py: one picture of every family of a `make table` run."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from stages.data.images import save_grid
from tests.conftest import script_module

table_samples = script_module("table_samples")


def solid(values: list[int], size: int = 8) -> torch.Tensor:
    """One flat grey image per value, uint8 (N, 3, size, size)."""
    return torch.tensor(values, dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, size, size).contiguous()


def write_run(run: Path, families: dict[str, tuple[float, list[int], list[str] | None]]) -> None:
    rows = []
    for family, (fid, values, row_names) in families.items():
        save_grid(solid(values), run / "samples" / family / "grid.png", nrow=3, row_names=row_names)
        rows.append({"model": family, "fid": fid})
    pd.DataFrame(rows).to_csv(run / "leaderboard.csv", index=False)


def test_one_row_per_family_best_fid_first_from_each_grid_s_first_column(tmp_path: Path) -> None:
    # 3 x 3 grids: the first column holds the values at 0, 3 and 6
    plain = [10, 11, 12, 20, 21, 22, 30, 31, 32]
    conditional = [110, 111, 112, 120, 121, 122, 130, 131, 132]
    write_run(
        tmp_path,
        {"worse": (500.0, plain, None), "better": (300.0, conditional, ["airplane", "car", "bird"])},
    )
    out = table_samples.table_samples(tmp_path, image_size=8)
    picture = np.asarray(Image.open(out).convert("RGB"))
    assert picture.shape[0] == 2 + 2 * 10  # two rows of 8-px images with 2-px padding
    # the images sit at the right of the labelled margin: row r, column c at these pixels
    left = picture.shape[1] - (3 * 10 + 2)

    def tile(r: int, c: int) -> int:
        return picture[2 + r * 10 + 4, left + 2 + c * 10 + 4, 0]

    assert [tile(0, c) for c in range(3)] == [110, 120, 130]  # better first, class names skipped
    assert [tile(1, c) for c in range(3)] == [10, 20, 30]


def test_a_family_without_its_grid_stops_with_one_line(tmp_path: Path) -> None:
    write_run(tmp_path, {"a": (300.0, list(range(9)), None)})
    pd.DataFrame([{"model": "a", "fid": 300.0}, {"model": "b", "fid": 400.0}]).to_csv(
        tmp_path / "leaderboard.csv", index=False
    )
    with pytest.raises(SystemExit, match=r"samples/b/grid.png: no such file: the leaderboard lists b$"):
        table_samples.table_samples(tmp_path, image_size=8)
    assert not (tmp_path / "samples.png").exists()
