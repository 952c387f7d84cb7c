"""Command `sample`: N images from a trained generator, as PNG files or one .npz, for
external FID tools (torch-fidelity, clean-fid, the guided-diffusion evaluator).

    python -m stages.sample --family dcgan3 --n 10000 --out samples/dcgan3
    python -m stages.sample --family cgan1 --n 50000 --out dcgan3.npz [--seed 0] [--device auto]

A folder gets 000000.png, 000001.png, ...; a .npz gets `arr_0`, uint8 (N, H, W, 3), and for
a conditional generator `labels` (every class equally often). The same family, N and seed
give the same images (on one machine). Written to a temporary path and moved into place
when complete, so an interrupted run leaves nothing half-written. Not a DVC stage: it
reads a trained generator and writes where you say.
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
from stages.core.schema import Config, Device
from stages.core.stage import stage_main
from stages.data.images import png_bytes
from stages.gan.sampling import generated_batches, load_generator

BATCH = 500


def run(cfg: Config, family: str, n: int, out: str, seed: int, device: str) -> None:
    weights = paths.generator_path(family)
    if not weights.is_file():
        raise UserError(f"{weights}: no trained generator of {family}; run `dvc repro train@{family}` first")
    if n < 1:
        raise UserError(f"--n {n}: must be at least 1")
    target = Path(out)
    as_npz = target.suffix == ".npz"
    if not as_npz and target.exists() and any(target.iterdir()):
        raise UserError(f"--out {target}: the folder is not empty; name a new one")
    set_threads(cfg.train.num_threads)
    generator, info = load_generator(weights)
    batches = generated_batches(generator, n, info["latent_dim"], seed, resolve_device(Device(device)), BATCH)
    images, labels = [], []
    bar = tqdm(total=n, desc=f"sample {family}", unit="img")
    with atomic_path(target) as tmp:
        if not as_npz:
            tmp.mkdir()
        written = 0
        for batch, batch_labels in batches:
            batch = batch.cpu()
            if as_npz:
                images.append(batch.permute(0, 2, 3, 1).numpy())
                if batch_labels is not None:
                    labels.append(batch_labels.numpy())
            else:
                for image in batch:
                    (tmp / f"{written:06d}.png").write_bytes(png_bytes(image))
                    written += 1
            bar.update(len(batch))
        if as_npz:
            arrays = {"arr_0": np.concatenate(images)}
            if labels:
                arrays["labels"] = np.concatenate(labels)
            with tmp.open("wb") as handle:
                np.savez(handle, **arrays)
    bar.close()
    print(f"wrote {n} samples of {family} (seed {seed}) to {target}")


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, required=True, help="number of images")
    parser.add_argument("--out", required=True, help="a new folder (PNG files) or a .npz file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", choices=[d.value for d in Device])


if __name__ == "__main__":
    stage_main(run, family=True, options=options)
