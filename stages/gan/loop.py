"""The one training loop for every GAN family.

The family's ModelConfig picks the networks (stages.models) and the objective
(stages.gan.objectives); everything else — batches, schedules, mixed precision, logging,
checkpoints and resume — lives here once.

Resume is exact: the checkpoint holds the networks, optimisers, the batch
order and every random-number state, so a run interrupted and resumed on CPU ends with
the same weights as one that never stopped.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from stages.core import distributed
from stages.core.checkpoint import Checkpoint, stop_on_sigint
from stages.core.device import autocast_for
from stages.core.errors import UserError
from stages.core.schema import CutMixMode, LrSchedule, ModelConfig, Optimizer, TrainConfig
from stages.data.dataset import BatchSampler, ImageSet
from stages.gan.augment import DiffAugmented, augment_real, paste_fake
from stages.gan.cuda_graph import (
    GRAPH_WARMUP_STEPS,
    GraphedStep,
    graph_lr,
    lr_in_device_memory,
    make_adam,
    set_lr,
)
from stages.gan.health import CollapseWatch, TrainingFailed, check_losses, check_weights
from stages.gan.objectives import make_objective
from stages.models.registry import build_gan

log = logging.getLogger("training")

HISTORY_COLUMNS = ("step", "d_loss", "g_loss", "lr_g", "lr_d")


def lr_factor(schedule: LrSchedule, step: int, steps: int, cfg: TrainConfig) -> float:
    """Multiplier of the base learning rate at `step` (0-based) of `steps`."""
    t = step / steps
    if schedule == LrSchedule.constant:
        return 1.0
    if schedule == LrSchedule.step:
        return cfg.lr_gamma ** sum(step >= round(m * steps) for m in cfg.lr_milestones)
    end = cfg.lr_end_factor
    if schedule == LrSchedule.cosine:
        return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * t))
    if schedule == LrSchedule.exp:
        return end**t
    if schedule == LrSchedule.linear:
        return 1 - (1 - end) * t
    raise ValueError(schedule)


@dataclass
class TrainResult:
    generator: nn.Module
    discriminator: nn.Module
    history: torch.Tensor  # (steps, len(HISTORY_COLUMNS)) float64
    seconds: float
    images_seen: int
    steps_done: int  # the steps behind `generator`: all of them, or the last good checkpoint's
    failure: str = ""  # why training stopped early (stages.gan.health), "" when it did not


class StepMonitor(Protocol):
    """Something measured on the sampling generator every `every` steps and at the last one
    (e.g. a FID curve); its state goes into checkpoints so a resumed run keeps it."""

    every: int

    def __call__(self, step: int, generator: nn.Module) -> None: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class Interrupted(Exception):
    """Raised by `stop_at` (tests) after the checkpoint is written, like a Ctrl-C."""


def rank_seed(seed: int, stream: int, rank: int) -> int:
    """The seed of one random stream (noise, augmentation, ...) on one rank: rank 0 of a
    lone process keeps seed + stream, other ranks are offset so their draws differ."""
    return seed + stream + 1000 * rank


def training_steps(train_cfg: TrainConfig, model_cfg: ModelConfig) -> int:
    """G updates of one run: the model's steps or train.steps, or with train.budget_images > 0
    as many as let D see that many real images (d_steps of batch_size per G update)."""
    if train_cfg.budget_images > 0:
        return max(1, train_cfg.budget_images // (train_cfg.batch_size * model_cfg.d_steps))
    return train_cfg.steps if model_cfg.steps is None else model_cfg.steps


def learning_rates(train_cfg: TrainConfig, model_cfg: ModelConfig) -> tuple[float, float]:
    """G's and D's learning rates of one run: the model's own where set, else train's."""
    return model_cfg.lr_g or train_cfg.lr_g, model_cfg.lr_d or train_cfg.lr_d


def diffaugment_policy(train_cfg: TrainConfig, model_cfg: ModelConfig) -> str:
    """The DiffAugment ops of one run: the model's own, else train.diffaugment ("" = off)."""
    policy = train_cfg.diffaugment if model_cfg.diffaugment is None else model_cfg.diffaugment
    return policy.strip()


def train_gan(
    train_cfg: TrainConfig,
    model_cfg: ModelConfig,
    data: ImageSet,
    device: torch.device,
    checkpoint: Path | None = None,
    fingerprint: str = "",
    stop_at: int | None = None,
    progress: bool = True,
    monitor: StepMonitor | None = None,
) -> TrainResult:
    """Train one family on `data` (uint8 images). Resumes from `checkpoint` when it holds
    a run with the same `fingerprint`; `stop_at` simulates an interruption (tests).

    Under torchrun (stages.core.distributed) every rank runs this with the same arguments:
    G and D are wrapped in DistributedDataParallel, each rank takes its share of the
    global batch, and rank 0 alone writes the checkpoint. `monitor` runs on rank 0 only, on
    the generator samples are drawn from (the EMA copy when there is one); its seconds are
    not counted as training time.

    A failed run (stages.gan.health: non-finite loss or weights, D's loss stuck at 0,
    identical samples at two checks in a row or at the last step) stops at once and returns
    the generator of the last good checkpoint (the initial weights before the first one)
    with `failure` saying what happened; the checkpoint file is kept, nothing is written
    from a failed or suspect state."""
    ranks = distributed.current()
    if train_cfg.batch_size % ranks.world:
        raise UserError(f"train.batch_size={train_cfg.batch_size} does not split across {ranks.world} ranks")
    torch.manual_seed(train_cfg.seed)  # the same initial weights on every rank
    image_size = data.images.shape[-1]
    generator, discriminator = build_gan(
        model_cfg.arch,
        model_cfg.latent_dim,
        image_size,
        n_classes=len(data.classes),
        width=model_cfg.width,
        fast_layers=train_cfg.fast_paths,
    )
    if ranks.world > 1:
        torch.manual_seed(rank_seed(train_cfg.seed, 3, ranks.rank))  # dropout, penalty mixing
    memory_format = torch.channels_last if train_cfg.channels_last else torch.contiguous_format
    generator.to(device, memory_format=memory_format)
    discriminator.to(device, memory_format=memory_format)
    # the copy of G that samples are drawn from when model.ema_decay > 0
    ema = copy.deepcopy(generator).requires_grad_(False) if model_cfg.ema_decay > 0 else None
    objective = make_objective(model_cfg)
    graphed = use_cuda_graph(train_cfg, model_cfg, device, ranks.world)
    lr_g, lr_d = learning_rates(train_cfg, model_cfg)
    opt_g = make_optimizer(generator, lr_g, train_cfg, model_cfg, device, graphed)
    opt_d = make_optimizer(discriminator, lr_d, train_cfg, model_cfg, device, graphed)
    steps = training_steps(train_cfg, model_cfg)

    # one shuffled order for all ranks (seeded alike); each takes its slice of every batch
    sampler = BatchSampler(data.to(device), train_cfg.batch_size, train_cfg.seed, ranks.rank, ranks.world)
    noise = torch.Generator(device=device).manual_seed(rank_seed(train_cfg.seed, 1, ranks.rank))
    # augmentation draws (CPU, saved in checkpoints): the same on every device
    augment_rng = torch.Generator().manual_seed(rank_seed(train_cfg.seed, 2, ranks.rank))
    history = torch.zeros(steps, len(HISTORY_COLUMNS), dtype=torch.float64)
    start, seconds = 0, 0.0

    state_file = Checkpoint(checkpoint, fingerprint)
    saved = state_file.load()  # on the CPU: RNG states must be CPU tensors; weights move on load
    if saved is not None:
        generator.load_state_dict(saved["generator"])
        discriminator.load_state_dict(saved["discriminator"])
        opt_g.load_state_dict(saved["opt_g"])
        opt_d.load_state_dict(saved["opt_d"])
        if graphed:
            lr_in_device_memory([opt_g, opt_d], device)
        sampler.load_state_dict(saved["sampler"])
        mine = saved["ranks"][ranks.rank]
        noise.set_state(mine["noise"])
        torch.set_rng_state(mine["torch_rng"])
        augment_rng.set_state(mine["augment_rng"])
        history = saved["history"]
        if ema is not None:
            ema.load_state_dict(saved["ema"])
        start, seconds = int(saved["step"]), float(saved["seconds"])
        if monitor is not None and saved.get("monitor") is not None:
            monitor.load_state_dict(saved["monitor"])
        log.info("resuming from %s at step %d of %d", checkpoint, start, steps)
    sampling = ema if ema is not None else generator  # the generator samples come from
    # (step, weights) of the last state known to be healthy: what a failed run returns
    last_good = (start, copy.deepcopy(sampling.state_dict()))
    collapse = CollapseWatch()

    def save_checkpoint(step: int) -> None:
        if checkpoint is None:
            return
        rank_states = distributed.gather(
            {
                "noise": noise.get_state(),
                "torch_rng": torch.get_rng_state(),
                "augment_rng": augment_rng.get_state(),
            }
        )
        if ranks.is_main:
            state_file.save(
                {
                    "step": step,
                    "seconds": seconds,
                    "generator": generator.state_dict(),
                    "discriminator": discriminator.state_dict(),
                    "opt_g": opt_g.state_dict(),
                    "opt_d": opt_d.state_dict(),
                    "sampler": sampler.state_dict(),
                    "ranks": rank_states,
                    "history": history,
                    "ema": ema.state_dict() if ema is not None else None,
                    "monitor": monitor.state_dict() if monitor is not None else None,
                },
            )
        distributed.barrier()  # no rank goes on (or exits) before the checkpoint is whole

    # What the steps call: compiled and/or DDP-wrapped views of the same modules. G's step
    # scores with the bare D: its gradients are thrown away, so DDP must not sync them.
    g_run, d_run = generator, discriminator
    if train_cfg.compile:
        mode = train_cfg.compile_mode.value
        g_run, d_run = torch.compile(generator, mode=mode), torch.compile(discriminator, mode=mode)
    d_bare = d_run
    if ranks.world > 1:
        ids = [device.index] if device.type == "cuda" else None
        g_run = DistributedDataParallel(g_run, device_ids=ids)
        d_run = DistributedDataParallel(d_run, device_ids=ids)
    # what the objective sees as D: behind DiffAugment when the run's policy names ops
    critic_d, critic_g = d_run, d_bare
    if policy := diffaugment_policy(train_cfg, model_cfg):
        critic_d = DiffAugmented(d_run, policy, augment_rng)
        critic_g = DiffAugmented(d_bare, policy, augment_rng)

    # a graph capture must not use autocast's cache of cast weights (PyTorch's CUDA graph rules)
    autocast = autocast_for(device, train_cfg.amp, cache=not graphed)
    batch = sampler.rank_batch
    latent = model_cfg.latent_dim
    pending: list[torch.Tensor] = []  # per-step losses kept on the device until the next flush
    flushed = start

    def flush() -> None:
        nonlocal pending, flushed
        if pending:
            # one host sync per log_every steps; the mean over ranks is the global batch's loss
            values = distributed.mean_over_ranks(torch.stack(pending)).double().cpu()
            history[flushed : flushed + len(values), 1:3] = values
            flushed += len(values)
            pending = []
            check_losses(history, flushed, model_cfg.loss, train_cfg.collapse_steps)
            check_weights(flushed, generator=generator, discriminator=discriminator)

    bar = tqdm(
        total=steps, initial=start, desc="train", disable=not progress or not ranks.is_main, mininterval=2.0
    )

    def draw_inputs() -> list[tuple[torch.Tensor, ...]]:
        """(real, labels, z, CutMix fake box or None) of each D update of one step, in the
        order the seeded streams are drawn: eager work, outside any CUDA graph."""
        drawn = []
        for _ in range(model_cfg.d_steps):
            real, labels = sampler.next()
            real, labels, fake_box = augment_real(
                real, labels, train_cfg.augment, train_cfg.cutmix, train_cfg.cutmix_mode, augment_rng
            )
            z = torch.randn(batch, latent, device=device, generator=noise)
            drawn.append((real, labels, z, fake_box))
        return drawn

    def train_step(drawn: list[tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, torch.Tensor]:
        """d_steps D updates, then one G update; returns the last (d_loss, g_loss)."""
        for d_step, (real, labels, z, fake_box) in enumerate(drawn):
            # The last D step's fakes keep their graph and feed the G step too (as in
            # pytorch/examples' DCGAN): one generator forward fewer per step.
            keep_graph = d_step == len(drawn) - 1
            with autocast, torch.set_grad_enabled(keep_graph):
                fake = g_run(z, labels)
            mixed = None if fake_box is None else paste_fake(real, fake.detach(), fake_box)
            with autocast:
                d_loss = objective.discriminator(critic_d, real, fake.detach(), labels, mixed)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            if model_cfg.clip > 0:
                clip_weights(discriminator, model_cfg.clip)
        if train_cfg.fast_paths:
            discriminator.requires_grad_(False)  # input gradients only: G's are what count
        with autocast:
            g_loss = objective.generator(critic_g, fake, labels)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        if train_cfg.fast_paths:
            discriminator.requires_grad_(True)
        return d_loss, g_loss

    run_step = GraphedStep(train_step, GRAPH_WARMUP_STEPS) if graphed else train_step
    tick = time.perf_counter()
    try:
        with stop_on_sigint() as stop_requested:
            for step in range(start, steps):
                factor = lr_factor(train_cfg.lr_schedule, step, steps, train_cfg)
                row = [step, 0.0, 0.0, lr_g * factor, lr_d * factor]
                history[step] = torch.tensor(row, dtype=torch.float64)
                set_lr(opt_g, lr_g * factor)
                set_lr(opt_d, lr_d * factor)
                generator.train()
                discriminator.train()
                if train_cfg.compile:
                    # CUDA graphs (reduce_overhead, max_autotune) may reuse last step's outputs' memory
                    torch.compiler.cudagraph_mark_step_begin()
                d_loss, g_loss = run_step(draw_inputs())
                if ema is not None:
                    ema_update(ema, generator, ema_decay_at(model_cfg.ema_decay, step))
                pending.append(torch.stack([d_loss.detach(), g_loss.detach()]))

                done = step + 1
                if monitor is not None and ranks.is_main and (done % monitor.every == 0 or done == steps):
                    paused = time.perf_counter()
                    monitor(done, ema if ema is not None else generator)
                    tick += time.perf_counter() - paused  # not training time
                at_log = done % train_cfg.log_every == 0 or done == steps
                if at_log:
                    flush()
                    bar.set_postfix(d_loss=f"{history[step, 1]:.3f}", g_loss=f"{history[step, 2]:.3f}")
                bar.update(1)
                # several ranks agree on a Ctrl-C at log steps only: no sync on the others
                stop = stop_requested.is_set()
                if ranks.world > 1:
                    stop = at_log and distributed.any_rank(stop, device)
                interrupted = stop or done == stop_at
                if interrupted or (done % train_cfg.checkpoint_every == 0 and done < steps):
                    flush()
                    healthy = collapse.healthy(done, sampling, latent, device, last=False)
                    seconds += time.perf_counter() - tick
                    tick = time.perf_counter()
                    if healthy:  # after a strike the file on disk stays the last good state
                        save_checkpoint(done)
                        last_good = (done, copy.deepcopy(sampling.state_dict()))
                if interrupted:
                    bar.close()
                    # Ctrl-C is honoured at a step boundary, after the checkpoint, so resume is exact.
                    raise (KeyboardInterrupt if stop else Interrupted(f"stopped at {done}"))
        flush()  # checks the last steps' losses too
        collapse.healthy(steps, sampling, latent, device, last=True)
    except TrainingFailed as failed:
        bar.close()
        seconds += time.perf_counter() - tick
        good_step, good_weights = last_good
        sampling.load_state_dict(good_weights)
        images_seen = (flushed - start) * train_cfg.batch_size * model_cfg.d_steps
        return TrainResult(
            sampling, discriminator, history[:flushed], seconds, images_seen, good_step, str(failed)
        )
    seconds += time.perf_counter() - tick
    bar.close()
    distributed.share_buffers(*(m for m in (generator, discriminator, ema) if m is not None))
    # real images drawn per second (all ranks), the figure GAN papers and benchmarks quote
    images_seen = steps * train_cfg.batch_size * model_cfg.d_steps
    return TrainResult(sampling, discriminator, history, seconds, images_seen, steps)


def use_cuda_graph(train_cfg: TrainConfig, model_cfg: ModelConfig, device: torch.device, world: int) -> bool:
    """Whether train.cuda_graph applies here; where it cannot, the loop runs eagerly and
    says why."""
    if not train_cfg.cuda_graph:
        return False
    if train_cfg.compile:
        raise UserError(
            "train.cuda_graph=true and train.compile=true: pick one "
            "(train.compile_mode=reduce_overhead graphs G and D separately)"
        )
    reason = None
    if device.type != "cuda":
        reason = "the device is not CUDA"
    elif world > 1:
        reason = "DistributedDataParallel syncs gradients outside the graph"
    elif diffaugment_policy(train_cfg, model_cfg):
        reason = "DiffAugment draws on the host inside D's call"
    elif train_cfg.cutmix > 0 and train_cfg.cutmix_mode == CutMixMode.real_fake:
        reason = "train.cutmix (real_fake) adds a D batch on some steps only"
    if reason:
        log.info("train.cuda_graph: running eagerly, %s", reason)
    return reason is None


def make_optimizer(  # noqa: PLR0913
    network: nn.Module,
    lr: float,
    train_cfg: TrainConfig,
    model_cfg: ModelConfig,
    device: torch.device,
    graphed: bool = False,
) -> torch.optim.Optimizer:
    """Adam (betas from the model, else from train) or RMSprop, as the family's config says.
    In a CUDA graph the optimiser must be capturable and read its lr from device memory,
    so that set_lr changes the lr the replayed step uses."""
    if model_cfg.optimizer == Optimizer.rmsprop:
        rate = graph_lr(lr, device, graphed)
        return torch.optim.RMSprop(network.parameters(), lr=rate, capturable=graphed)
    beta1 = train_cfg.beta1 if model_cfg.beta1 is None else model_cfg.beta1
    beta2 = train_cfg.beta2 if model_cfg.beta2 is None else model_cfg.beta2
    return make_adam(network.parameters(), lr, (beta1, beta2), device, graphed)


@torch.no_grad()
def clip_weights(network: nn.Module, clip: float) -> None:
    """WGAN's weight clipping: every parameter of the critic into [-clip, clip]."""
    for param in network.parameters():
        param.clamp_(-clip, clip)


def ema_decay_at(decay: float, step: int) -> float:
    """The EMA decay at `step`, warmed up as TensorFlow's ExponentialMovingAverage does, so
    the average is not dominated by the random initial weights in short runs."""
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def ema_update(ema: nn.Module, live: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * live for parameters; buffers (batch-norm
    statistics) are copied, as they are averages already."""
    ema_params = list(ema.parameters())
    torch._foreach_lerp_(ema_params, [p.detach() for p in live.parameters()], 1 - decay)
    for mine, theirs in zip(ema.buffers(), live.buffers(), strict=True):
        mine.copy_(theirs)
