"""Stage `train@<family>`: train one GAN family on the training set (stage `trainset`).

    python -m stages.train --family dcgan3

Writes artifacts/<family>/generator.pt, reports/losses/<family>.csv (per step, for
`dvc plots show`), reports/train/<family>/summary.json and reports/samples/<family>/:
grid.png (fixed noise, the same z at every run) and set_01..set_10.png, the deck's
"generate 1000" visual check (10 grids of 100). A conditional model's grids have one
row per class, named in a left margin.
A resumable checkpoint lives in checkpoints/<family>/ (outside DVC's outputs, which DVC
deletes before a run) and is removed once the run has finished.
A run that fails (stages.gan.health: non-finite loss or weights, D's loss stuck at 0,
identical samples) stops with one line naming the family, the step and what happened; the
stage then writes its outputs from the last good checkpoint, which it keeps, and the summary
says `failed`, so evaluation and the leaderboard show the family as failed with the reason.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from stages.core import distributed, paths
from stages.core.device import arithmetic, resolve_device, set_threads
from stages.core.errors import UserError
from stages.core.io import csv_text, save_torch, write_json, write_text
from stages.core.schema import Config, fingerprint, to_plain
from stages.core.stage import stage_main
from stages.data.dataset import dataset_fingerprint, load_prepared
from stages.data.images import save_grid
from stages.gan.loop import HISTORY_COLUMNS, train_gan, training_steps
from stages.gan.sampling import grid_inputs, is_conditional, sample_images
from stages.metrics.backbones import load_backbone
from stages.metrics.reference import load_reference
from stages.metrics.scoring import FidCurve
from stages.models.registry import ARCHITECTURES, count_parameters

log = logging.getLogger("train")


def history_csv(history: torch.Tensor) -> str:
    """Per-step losses and learning rates as CSV (fixed float format: stable bytes)."""
    return csv_text(HISTORY_COLUMNS, history.tolist(), [".0f", ".6f", ".6f", ".8g", ".8g"])


def run(cfg: Config, family: str, stop_at: int | None = None, progress: bool = True) -> dict:
    if family not in cfg.models:
        raise UserError(
            f"--family {family}: no models.{family} in params (known: {', '.join(sorted(cfg.models))})"
        )
    model_cfg = cfg.models[family]
    set_threads(cfg.train.num_threads)
    device = resolve_device(cfg.train.device)
    if distributed.under_torchrun():
        device = distributed.join(device)
    ranks = distributed.current()
    data_dir = paths.trainset_dir(cfg.data.name)  # filtered, extra images, oversampled
    data = load_prepared(data_dir, "train")
    # A checkpoint is reused only by a run with the same params and the same data.
    fingerprint_value = _fingerprint(cfg, family, data_dir)
    checkpoint = paths.gan_checkpoint(family)
    log.info(
        "training %s (%s) on %d images, device %s, rank %d of %d",
        family,
        model_cfg.arch,
        len(data),
        device,
        ranks.rank,
        ranks.world,
    )
    curve = fid_curve(cfg, model_cfg.latent_dim, device) if ranks.is_main else None
    result = train_gan(
        cfg.train,
        model_cfg,
        data,
        device,
        checkpoint,
        fingerprint_value,
        stop_at=stop_at,
        progress=progress,
        monitor=curve,
    )
    if not ranks.is_main:
        return {}  # rank 0 writes every output

    generator = result.generator.eval()
    image_size = data.images.shape[-1]
    save_torch(
        paths.generator_path(family),
        {
            "arch": model_cfg.arch,
            "latent_dim": model_cfg.latent_dim,
            "width": model_cfg.width,
            "image_size": image_size,
            "classes": data.classes,
            "ema": model_cfg.ema_decay > 0,
            "state_dict": {k: v.cpu() for k, v in generator.state_dict().items()},
        },
    )
    write_sample_grids(
        generator, data.classes, cfg.train.grid_size, model_cfg.latent_dim, cfg.train.seed, device, family
    )
    write_text(paths.losses_csv(family), history_csv(result.history))
    write_text(paths.fid_curve(family), curve.csv() if curve is not None else "step,fid\n")

    steps = training_steps(cfg.train, model_cfg)
    good = result.history[: result.steps_done]
    tail = good[-max(1, steps // 20) :]  # last 5% of steps: less noisy
    summary = {
        "family": family,
        "arch": model_cfg.arch,
        "arch_family": ARCHITECTURES[model_cfg.arch].family,
        "conditional": ARCHITECTURES[model_cfg.arch].conditional,
        "steps": steps,
        "steps_done": result.steps_done,
        "failed": result.failure,
        "batch_size": cfg.train.batch_size,
        "d_loss": round(float(tail[:, 1].mean()), 6) if len(tail) else None,
        "g_loss": round(float(tail[:, 2].mean()), 6) if len(tail) else None,
        "train_seconds": round(result.seconds, 2),
        "train_images_per_second": round(result.images_seen / max(result.seconds, 1e-9), 1),
        "params_generator": count_parameters(result.generator),
        "params_discriminator": count_parameters(result.discriminator),
        "device": str(device),
        "arithmetic": arithmetic(device, cfg.train.amp),
        # the code path of PyTorch's CPU kernels (AVX2, AVX512; `make numerics`): CPU runs
        # whose weights differ usually differ here
        "cpu_capability": torch.backends.cpu.get_cpu_capability() if device.type == "cpu" else "",
        "processes": ranks.world,
        "model": to_plain(model_cfg),
    }
    write_json(paths.train_summary(family), summary)
    if result.failure:
        kept = f"; kept {checkpoint}, delete it to start over" if checkpoint.is_file() else ""
        log.error(
            "%s: training failed at %s; its outputs hold the last good weights (step %d)%s",
            family,
            result.failure,
            result.steps_done,
            kept,
        )
        return summary
    checkpoint.unlink(missing_ok=True)  # finished: a forced rerun must start afresh
    log.info("done: d_loss %.3f g_loss %.3f, %.0f s", summary["d_loss"], summary["g_loss"], result.seconds)
    return summary


def fid_curve(cfg: Config, latent_dim: int, device: torch.device) -> FidCurve | None:
    """The train.fid_every monitor, in the evaluation's backbone and reference (None when off)."""
    if cfg.train.fid_every == 0:
        return None
    reference, protocol = load_reference(cfg.data.name)
    backbone = load_backbone(cfg.eval, paths.featurenet_path(cfg.data.name))
    if backbone.info.weights_sha256 != protocol["backbone"]["weights_sha256"]:
        raise UserError(f"reference statistics of {cfg.data.name} were computed with another backbone")
    every, samples = cfg.train.fid_every, cfg.train.fid_samples
    return FidCurve(backbone.eval(), reference, cfg.eval, latent_dim, device, every, samples)


SAMPLE_SETS = 10  # the deck's generate_1000: 10 grids of 100 samples


def write_sample_grids(
    generator: torch.nn.Module,
    classes: list[str],
    grid_size: int,
    latent_dim: int,
    seed: int,
    device: torch.device,
    family: str,
) -> None:
    """reports/samples/<family>/grid.png (fixed noise) and set_01..set_10.png (new noise each)."""
    out = paths.samples_dir(family)
    row_names = classes if is_conditional(generator) else None
    for index in range(SAMPLE_SETS + 1):
        # seed + 0 is the fixed-noise grid; each set has a seed of its own
        z, labels, per_row = grid_inputs(generator, grid_size, grid_size, latent_dim, seed + 1000 * index)
        name = "grid.png" if index == 0 else f"set_{index:02d}.png"
        save_grid(sample_images(generator, z, device, labels), out / name, per_row, row_names)


def _fingerprint(cfg: Config, family: str, data_dir: Path) -> str:
    return fingerprint(cfg.train, cfg.models[family], dataset_fingerprint(data_dir), torch.__version__)


def launch(cfg: Config, family: str, params: str) -> None:
    """Train in this process, or under torchrun when train.nproc_per_node > 1."""
    nproc = cfg.train.nproc_per_node
    if nproc > 1 and not distributed.under_torchrun():
        distributed.launch(nproc, "stages.train", ["--family", family, "--params", params])
        return
    try:
        run(cfg, family)
    finally:
        distributed.leave()


if __name__ == "__main__":
    stage_main(launch, family=True, pass_params=True)
