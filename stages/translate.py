"""Command `translate`: a folder of images through a trained CycleGAN, as the reference
code's test.py does.

    python -m stages.translate --in photos/ --out monet_style/           (A -> B)
    python -m stages.translate --in paintings/ --out photos/ --direction b2a

Reads artifacts/cyclegan/<domains.name>.pt (the `train_cyclegan` stage's output, or
--weights), brings every image of --in to the training size (shorter side resized,
centre crop, as the domains were), translates it with g_ab (a2b) or g_ba (b2a) and writes
<stem>.png into --out, a new folder, complete or not at all. Not a DVC stage.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm

from stages.core import paths
from stages.core.device import resolve_device, set_threads
from stages.core.errors import UserError
from stages.core.io import atomic_path
from stages.core.schema import Config, Device, SmallImages
from stages.core.stage import stage_main
from stages.cyclegan.translation import load_generators, translate
from stages.data.domains import list_images, load_square
from stages.data.images import png_bytes

BATCH = 16


def run(cfg: Config, source: str, out: str, direction: str, weights: str, device: str) -> None:  # noqa: PLR0913
    weights_path = Path(weights) if weights else paths.cyclegan_path(cfg.domains.name)
    if not weights_path.is_file():
        raise UserError(
            f"{weights_path}: no trained CycleGAN; run `dvc repro train_cyclegan` or pass --weights"
        )
    target = Path(out)
    if target.exists() and any(target.iterdir()):
        raise UserError(f"--out {target}: the folder is not empty; name a new one")
    files = list_images(source)
    stems = [f.stem for f in files]
    if len(set(stems)) != len(stems):
        raise UserError(f"--in {source}: two images share a file stem; outputs would overwrite each other")
    set_threads(cfg.train.num_threads)
    g_ab, g_ba, info = load_generators(weights_path)
    generator = g_ab if direction == "a2b" else g_ba
    size = info["image_size"]
    chosen = resolve_device(Device(device))
    with atomic_path(target) as tmp:
        tmp.mkdir()
        for start in tqdm(range(0, len(files), BATCH), desc=f"translate {direction}", unit="batch"):
            chunk = files[start : start + BATCH]
            images = np.stack([load_square(path, size, SmallImages.upscale) for path in chunk])
            for path, image in zip(chunk, translate(generator, images, chosen, BATCH), strict=True):
                (tmp / f"{path.stem}.png").write_bytes(png_bytes(image))
    print(f"translated {len(files)} images ({direction}, {size} px) from {source} into {target}")


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--in", dest="source", required=True, help="a folder of images")
    parser.add_argument("--out", required=True, help="a new folder for the translated PNGs")
    parser.add_argument("--direction", default="a2b", choices=["a2b", "b2a"])
    parser.add_argument("--weights", default="", help="default: artifacts/cyclegan/<domains.name>.pt")
    parser.add_argument("--device", default="auto", choices=[d.value for d in Device])


if __name__ == "__main__":
    stage_main(run, options=options)
