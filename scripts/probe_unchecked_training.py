"""Does a family that the health check stops leave its collapse when it is let run? One
training run in memory with the table profile (batch 32, seed 0), the identical-samples and
zero-D-loss checks off, a 1,000-sample FID every 250 steps; prints D and G losses per 100
steps, the FID curve and the samples' spread ratio at the end. Needs the training set and
reference statistics that `dvc repro` writes; writes nothing.

    python scripts/probe_unchecked_training.py 1500 dcgan1 [override ...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.core import paths  # noqa: E402
from stages.core.schema import compose, validate  # noqa: E402
from stages.data.dataset import load_prepared  # noqa: E402
from stages.gan import health, loop  # noqa: E402
from stages.train import fid_curve  # noqa: E402

CPU = torch.device("cpu")


def main(steps: int, family: str, overrides: list[str]) -> None:
    fixed = [f"train.steps={steps}", "train.budget_images=0", "train.fid_every=250", "train.collapse_steps=0"]
    cfg = validate(compose(["profile=table", *fixed, *overrides]))
    torch.set_num_threads(2)
    loop.CollapseWatch.healthy = lambda self, *args, **kwargs: True  # never stop on samples
    data = load_prepared(paths.trainset_dir(cfg.data.name), "train")
    model_cfg = cfg.models[family]
    curve = fid_curve(cfg, model_cfg.latent_dim, CPU)
    tick = time.time()
    result = loop.train_gan(cfg.train, model_cfg, data, CPU, None, "", progress=False, monitor=curve)
    for start in range(0, len(result.history), 100):
        rows = result.history[start : start + 100]
        d_loss, g_loss = rows[:, 1].mean(), rows[:, 2].mean()
        print(f"steps {start}-{start + len(rows)}: d_loss {d_loss:.4f} g_loss {g_loss:.3f}")
    print("FID curve (step, 1,000-sample FID):", curve.rows)
    across, within = health.sample_spread(result.generator, model_cfg.latent_dim, CPU)
    ratio = health.spread_ratio(across, within)
    print(f"end spread ratio {ratio:.3f} (across samples {across:.4f}, within one {within:.4f})")
    print(f"seconds {time.time() - tick:.0f}")


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3:])
