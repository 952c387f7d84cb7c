"""Unpaired image translation with CycleGAN: losses, the training loop, translation.

The loop follows the reference code (Zhu et al., pytorch-CycleGAN-and-pix2pix): per step,
both generators are updated together on LSGAN + cycle (L1, weight lambda_cycle) + identity
(L1, weight lambda_identity * lambda_cycle) losses, then both discriminators on real
images against pooled fakes, each loss halved. Adam(2e-4, 0.5, 0.999), constant lr then
linear decay towards zero. Domain A is walked an epoch at a time in a seeded shuffled
order, B drawn at random (the reference's unaligned dataset). Random crops from images
upscaled by `load_scale` (286/256 in the reference) and horizontal flips, drawn on the
training device from a seeded generator.

A checkpoint (networks, optimisers, pools, random states, loss rows) is written every
`checkpoint_every` steps and after the step in which Ctrl-C came; the same command resumes
it exactly. With `cuda_graph` on CUDA the whole step is replayed as one CUDA graph: what it
draws on the host (batches, crops, flips, the pools' plans) is drawn before it.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn
from tqdm import tqdm

from stages.core.checkpoint import Checkpoint, stop_on_sigint
from stages.core.device import autocast_for, host_to_device
from stages.core.io import csv_text
from stages.core.schema import Amp, CycleGanConfig
from stages.cyclegan.translation import save_triptych
from stages.data.images import channels_first, to_signed_unit
from stages.gan.cuda_graph import GRAPH_WARMUP_STEPS, GraphedStep, lr_in_device_memory, make_adam, set_lr
from stages.models.cyclegan import ImagePool, PatchDiscriminator, ResnetGenerator, default_blocks

log = logging.getLogger("cyclegan")

LOSS_COLUMNS = ["step", "lr", "g_gan", "cycle", "identity", "d_a", "d_b"]


class CycleGan(nn.Module):
    """g_ab: A -> B (photo -> Monet), g_ba: B -> A; d_b judges B images, d_a judges A images."""

    def __init__(self, cfg: CycleGanConfig, image_size: int) -> None:
        super().__init__()
        blocks = cfg.n_blocks or default_blocks(image_size)
        self.g_ab = ResnetGenerator(blocks, cfg.width_g)
        self.g_ba = ResnetGenerator(blocks, cfg.width_g)
        self.d_a = PatchDiscriminator(cfg.width_d)
        self.d_b = PatchDiscriminator(cfg.width_d)
        self.info = {"n_blocks": blocks, "width_g": cfg.width_g, "image_size": image_size}


def lsgan_loss(scores: Tensor, real: bool) -> Tensor:
    """Least-squares GAN loss against an all-ones (real) or all-zeros (fake) patch map."""
    target = torch.ones_like(scores) if real else torch.zeros_like(scores)
    return F.mse_loss(scores.float(), target.float())


def cycle_identity_losses(  # noqa: PLR0913
    g_ab: nn.Module,
    g_ba: nn.Module,
    real_a: Tensor,
    real_b: Tensor,
    fake_a: Tensor,
    fake_b: Tensor,
    lambda_cycle: float,
    lambda_identity: float,
) -> tuple[Tensor, Tensor]:
    """(weighted cycle loss, weighted identity loss) of both directions."""
    cycle = F.l1_loss(g_ba(fake_b).float(), real_a.float()) + F.l1_loss(g_ab(fake_a).float(), real_b.float())
    if lambda_identity == 0:
        return lambda_cycle * cycle, torch.zeros((), device=real_a.device)
    identity = F.l1_loss(g_ab(real_b).float(), real_b.float()) + F.l1_loss(
        g_ba(real_a).float(), real_a.float()
    )
    return lambda_cycle * cycle, lambda_cycle * lambda_identity * identity


def linear_decay_factor(step: int, steps: int, decay_start: float) -> float:
    """The lr factor of step `step` (0-based): 1 for the first decay_start * steps steps,
    then, over the n = steps - start decay steps, 1 - k / (n + 1) for the k-th (1-based):
    from n / (n + 1) down to 1 / (n + 1) at the last step, as the reference's lambda_rule
    gives its epochs when train.py steps the scheduler after each epoch (commit b621837;
    it never trains at lr 0)."""
    start = int(decay_start * steps)
    if step < start:
        return 1.0
    return 1.0 - (step - start + 1) / float(steps - start + 1)


def epoch_indices(n: int, start: int, count: int, seed: int) -> Tensor:
    """Indices `start` .. start + count - 1 of a walk over n items, one shuffled epoch after
    another; epoch e's order comes from its own seed, so any step's batch is a function of
    the step (no state for a resume to restore)."""
    positions = torch.arange(start, start + count)
    epochs = positions // n
    orders = {
        int(e): torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + int(e)))
        for e in epochs.unique()
    }
    return torch.stack([orders[int(e)][int(p % n)] for e, p in zip(epochs, positions, strict=True)])


def crop_and_flip(images: Tensor, scale: float, flip: bool, generator: torch.Generator) -> Tensor:
    """The reference's augmentation on a batch already on the device: upscale by `scale`,
    take one random crop of the original size, flip each image with probability 0.5."""
    size = images.shape[-1]
    if scale > 1:
        load = round(size * scale)
        images = F.interpolate(images, size=(load, load), mode="bicubic", align_corners=False).clamp(-1, 1)
        top, left = (int(v) for v in torch.randint(load - size + 1, (2,), generator=generator))
        images = images[..., top : top + size, left : left + size]
    if flip:
        flips = torch.rand(len(images), generator=generator) < 0.5
        flips = host_to_device(flips, images.device)
        images = torch.where(flips[:, None, None, None], images.flip(-1), images)
    return images.contiguous()


@dataclass
class CycleGanRun:
    model: CycleGan
    rows: list[dict]
    seconds: float
    steps: int


def train_cyclegan(  # noqa: PLR0913, PLR0915
    cfg: CycleGanConfig,
    images_a: np.ndarray,
    images_b: np.ndarray,
    snapshot_a: np.ndarray,
    device: torch.device,
    checkpoint: Path,
    fingerprint: str,
    snapshot_dir: Path | None = None,
    progress: bool = True,
) -> CycleGanRun:
    """Train on uint8 (N, S, S, 3) arrays of both domains; snapshot_a: photos to show in
    the snapshots (photo | translated | rebuilt), written into snapshot_dir, which is kept
    across a resume and emptied on a fresh start."""
    torch.manual_seed(cfg.seed)
    size = images_a.shape[1]
    model = CycleGan(cfg, size).to(device)
    graphed = use_cuda_graph(cfg, device)
    betas = (cfg.beta1, cfg.beta2)
    opt_g = make_adam([*model.g_ab.parameters(), *model.g_ba.parameters()], cfg.lr, betas, device, graphed)
    opt_d = make_adam([*model.d_a.parameters(), *model.d_b.parameters()], cfg.lr, betas, device, graphed)
    pool_a, pool_b = ImagePool(cfg.pool_size, cfg.seed + 1), ImagePool(cfg.pool_size, cfg.seed + 2)
    draws = torch.Generator().manual_seed(cfg.seed)  # batch indices, crops and flips
    # both domains stay on the device as uint8 (a quarter of float32); batches are scaled there
    data_a, data_b = channels_first(images_a).to(device), channels_first(images_b).to(device)
    # a graph capture must not use autocast's cache of cast weights (PyTorch's CUDA graph rules)
    autocast = autocast_for(device, Amp.cuda if cfg.amp else Amp.off, cache=not graphed)
    rows: list[dict] = []
    step, seconds = 0, 0.0
    sums = torch.zeros(5, device=device)  # read every log_every steps: no sync per step
    state_file = Checkpoint(checkpoint, fingerprint)
    saved = state_file.load(map_location=device)
    if saved is not None:
        model.load_state_dict(saved["model"])
        opt_g.load_state_dict(saved["opt_g"])
        opt_d.load_state_dict(saved["opt_d"])
        if graphed:
            lr_in_device_memory([opt_g, opt_d], device)
        pool_a.load_state_dict(saved["pool_a"], device)
        pool_b.load_state_dict(saved["pool_b"], device)
        draws.set_state(saved["draws"])
        rows, step, seconds = saved["rows"], saved["step"], saved["seconds"]
        sums = saved["sums"].to(device)
        log.info("resuming from %s at step %d", checkpoint, step)
    if step == 0 and snapshot_dir is not None:  # a fresh start: no snapshots of another run
        shutil.rmtree(snapshot_dir, ignore_errors=True)

    def save_checkpoint() -> None:
        state_file.save(
            {
                "model": model.state_dict(),
                "opt_g": opt_g.state_dict(),
                "opt_d": opt_d.state_dict(),
                "pool_a": pool_a.state_dict(),
                "pool_b": pool_b.state_dict(),
                "draws": draws.get_state(),
                "rows": rows,
                "step": step,
                "seconds": seconds,
                "sums": sums.cpu(),
            },
        )

    def draw_inputs() -> list[tuple[Tensor, ...]]:
        """Everything a step draws on the host, as device tensors: both real batches,
        cropped and flipped, and both pools' plans. Eager work, outside any CUDA graph."""
        index_a = host_to_device(
            epoch_indices(len(data_a), step * cfg.batch_size, cfg.batch_size, cfg.seed), device
        )
        index_b = host_to_device(torch.randint(len(data_b), (cfg.batch_size,), generator=draws), device)
        real_a = crop_and_flip(to_signed_unit(data_a[index_a]), cfg.load_scale, cfg.flip, draws)
        real_b = crop_and_flip(to_signed_unit(data_b[index_b]), cfg.load_scale, cfg.flip, draws)
        plans = [
            host_to_device(t, device) for t in (*pool_a.plan(cfg.batch_size), *pool_b.plan(cfg.batch_size))
        ]
        return [(real_a, real_b, *plans)]

    def train_step(inputs: list[tuple[Tensor, ...]]) -> Tensor:
        """One G update of both generators, then one D update of both discriminators;
        returns the five losses of LOSS_COLUMNS[2:]."""
        real_a, real_b, slots_a, swaps_a, slots_b, swaps_b = inputs[0]
        # generators, with the discriminators' weights left alone
        model.d_a.requires_grad_(False)
        model.d_b.requires_grad_(False)
        with autocast:
            fake_b, fake_a = model.g_ab(real_a), model.g_ba(real_b)
            g_gan = lsgan_loss(model.d_b(fake_b), True) + lsgan_loss(model.d_a(fake_a), True)
            cycle, identity = cycle_identity_losses(
                model.g_ab, model.g_ba, real_a, real_b, fake_a, fake_b, cfg.lambda_cycle, cfg.lambda_identity
            )
        opt_g.zero_grad(set_to_none=True)
        (g_gan + cycle + identity).backward()
        opt_g.step()
        # discriminators, on real images against the pools' fakes
        model.d_a.requires_grad_(True)
        model.d_b.requires_grad_(True)
        pooled_b = pool_b.exchange(fake_b.float(), slots_b, swaps_b)
        pooled_a = pool_a.exchange(fake_a.float(), slots_a, swaps_a)
        with autocast:
            d_b = 0.5 * (lsgan_loss(model.d_b(real_b), True) + lsgan_loss(model.d_b(pooled_b), False))
            d_a = 0.5 * (lsgan_loss(model.d_a(real_a), True) + lsgan_loss(model.d_a(pooled_a), False))
        opt_d.zero_grad(set_to_none=True)
        (d_a + d_b).backward()
        opt_d.step()
        return torch.stack([g_gan, cycle, identity, d_a, d_b]).detach().float()

    run_step = GraphedStep(train_step, GRAPH_WARMUP_STEPS, "cyclegan.cuda_graph") if graphed else train_step
    bar = tqdm(total=cfg.steps, initial=step, desc="train_cyclegan", disable=not progress)
    tick = time.perf_counter()
    with stop_on_sigint() as stop_requested:
        while step < cfg.steps:
            lr = cfg.lr * linear_decay_factor(step, cfg.steps, cfg.decay_start)
            set_lr(opt_g, lr)
            set_lr(opt_d, lr)
            sums += run_step(draw_inputs())
            step += 1
            if step % cfg.log_every == 0 or step == cfg.steps:
                count = step - (rows[-1]["step"] if rows else 0)
                means = (sums / count).tolist()
                sums.zero_()
                rows.append({"step": step, "lr": lr} | dict(zip(LOSS_COLUMNS[2:], means, strict=True)))
                bar.set_postfix(cycle=f"{means[1]:.3f}", d=f"{means[3] + means[4]:.3f}")
                bar.update(count)
            if snapshot_dir is not None and (step % cfg.snapshot_every == 0 or step == cfg.steps):
                save_triptych(
                    model.g_ab, model.g_ba, snapshot_a, device, snapshot_dir / f"step_{step:07d}.png"
                )
            stopping = stop_requested.is_set()
            if step % cfg.checkpoint_every == 0 or stopping:
                seconds += time.perf_counter() - tick
                tick = time.perf_counter()
                save_checkpoint()
            if stopping:
                raise KeyboardInterrupt
    bar.close()
    seconds += time.perf_counter() - tick
    return CycleGanRun(model, rows, seconds, step)


def use_cuda_graph(cfg: CycleGanConfig, device: torch.device) -> bool:
    """Whether cyclegan.cuda_graph applies: on CUDA only (elsewhere it runs eagerly, saying so)."""
    if cfg.cuda_graph and device.type != "cuda":
        log.info("cyclegan.cuda_graph: running eagerly, the device is not CUDA")
    return cfg.cuda_graph and device.type == "cuda"


def losses_csv(rows: list[dict]) -> str:
    """The logged loss rows as CSV (6 significant digits: stable bytes)."""
    formats = ["d"] + [".6g"] * (len(LOSS_COLUMNS) - 1)
    return csv_text(LOSS_COLUMNS, ([row[c] for c in LOSS_COLUMNS] for row in rows), formats)
