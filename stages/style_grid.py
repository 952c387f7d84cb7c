"""Stage `style_grid`: the first seed's experiment, parameter sets versus iterations.

    python -m stages.style_grid

For each parameter set in style.param_sets (the "framework parameters": layers and
weights) and each of the content and control images, one run to max(grid_iterations)
with a snapshot at every count in style.grid_iterations (one L-BFGS iteration per step,
so the snapshot at 100 is what a 100-iteration run gives). Writes
reports/style/grid/{content,control}.png (rows = parameter sets, named; columns =
iteration counts, left to right), reports/style/grid/losses.csv and table.md.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import torch

from stages.core import paths
from stages.core.device import resolve_device, set_threads
from stages.core.io import write_text
from stages.core.schema import Config, StyleParamSet
from stages.core.stage import stage_main
from stages.data.images import save_grid, to_uint8
from stages.style.transfer import StyleLoss, StyleSettings, prepare_transfer, transfer

log = logging.getLogger("style_grid")
OUT = paths.STYLE_REPORTS / "grid"


def label_columns(path: Path, labels: list[str], cell: int) -> None:
    """Add a white strip above a grid saved by save_grid, naming each column."""
    from PIL import Image, ImageDraw, ImageFont

    from stages.core.io import atomic_path

    with Image.open(path) as grid:
        grid.load()
    margin = grid.width - len(labels) * (cell + 2) - 2  # the row-name margin on the left
    labelled = Image.new("RGB", (grid.width, grid.height + 16), "white")
    labelled.paste(grid, (0, 16))
    draw = ImageDraw.Draw(labelled)
    font = ImageFont.load_default_imagefont()  # bitmap font: the same pixels everywhere
    for i, label in enumerate(labels):
        draw.text(
            (margin + 2 + i * (cell + 2) + cell // 2 - 3 * len(label), 2), label, fill="black", font=font
        )
    with atomic_path(path) as tmp:
        labelled.save(tmp, format="PNG")


def run(cfg: Config, progress: bool = True) -> pd.DataFrame:
    set_threads(cfg.train.num_threads)
    s = cfg.style
    device = resolve_device(s.device)
    backbone, contents, style = prepare_transfer(s, paths.featurenet_path(cfg.data.name), device)
    param_sets = s.param_sets or {"base": StyleParamSet()}
    # every set's layers are checked before the first run starts
    settings = {
        name: StyleSettings.resolve(s, backbone, values, f"style.param_sets.{name}")
        for name, values in param_sets.items()
    }
    backbone.keep_up_to([n for v in settings.values() for n in v.content_layers + v.style_layers])
    backbone.to(device)
    counts = sorted(set(s.grid_iterations))
    rows, pictures = [], {name: [] for name in contents}
    for set_name, values in settings.items():
        for image_name, content in contents.items():
            loss = StyleLoss(backbone, values, content, style)
            result = transfer(s, loss, content, counts, progress, f"{set_name}/{image_name}")
            pictures[image_name] += [result.snapshots[n] for n in counts]
            for n in counts:
                rows.append(
                    {"param_set": set_name, "image": image_name, "iterations": n, **result.history[n - 1]}
                )
    for image_name, images in pictures.items():
        path = OUT / f"{image_name}.png"
        save_grid(to_uint8(torch.cat(images), low=0.0), path, len(counts), list(settings))
        label_columns(path, [f"{n} it" for n in counts], s.image_size)
    table = pd.DataFrame(rows)
    write_text(OUT / "losses.csv", table.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    wide = table.pivot_table(index=["image", "param_set"], columns="iterations", values="total", sort=False)
    header = [
        "# Style transfer: parameter sets x iterations",
        "",
        f"Backbone {backbone.info.name} (weights sha256 {backbone.info.weights_sha256[:12]}), "
        f"{s.image_size} px, {s.optimizer.value}, init {s.init.value}, seed {s.seed}. "
        "Total loss after each iteration count (content_weight x content + style_weight x style "
        "+ tv_weight x tv; sets with other weights are not comparable by this number, compare "
        "the pictures in content.png and control.png: rows are the sets, columns the counts).",
        "",
    ]
    body = wide.map(lambda v: f"{v:.4g}").reset_index().to_markdown(index=False, disable_numparse=True)
    write_text(OUT / "table.md", "\n".join(header) + "\n" + body + "\n")
    log.info("%d runs, grid of %d x %d per image", len(settings) * len(contents), len(settings), len(counts))
    return table


if __name__ == "__main__":
    stage_main(run)
