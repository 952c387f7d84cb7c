"""Training the evaluation classifiers and measuring their accuracy.

- The in-pipeline `featurenet` (stages.models.featurenet), for datasets other than CIFAR-10:
  SGD with Nesterov momentum, a one-cycle lr, reflect-padded random crops and horizontal
  flips drawn from a seeded CPU generator (the same draws on any device).
- The shipped CIFAR-10 classifier (stages.models.cifar_net), trained once: airbench94's
  recipe (Jordan 2024), with test-time augmentation for its reported accuracy.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor
from tqdm import tqdm

from stages.core.device import bf16_native
from stages.core.schema import CifarNetConfig, FeaturenetConfig
from stages.data.dataset import ImageSet
from stages.data.images import to_signed_unit
from stages.models.cifar_net import CifarNet
from stages.models.featurenet import FeatureNet


def train_featurenet(
    cfg: FeaturenetConfig, train: ImageSet, device: torch.device, progress: bool = True
) -> FeatureNet:
    """SGD with Nesterov momentum and a one-cycle lr, crop+flip augmentation on the device."""
    torch.manual_seed(cfg.seed)
    model = FeatureNet(len(train.classes), cfg.width, tuple(cfg.convs)).to(
        device, memory_format=torch.channels_last
    )
    steps_per_epoch = len(train) // cfg.batch_size
    total = steps_per_epoch * cfg.epochs
    optimizer = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.lr, total_steps=total, pct_start=0.25
    )
    rng = torch.Generator().manual_seed(cfg.seed)
    images, labels = train.images.to(device), train.labels.to(device)
    bar = tqdm(total=total, desc="featurenet", disable=not progress, mininterval=2.0)
    model.train()
    for _ in range(cfg.epochs):
        order = torch.randperm(len(train), generator=rng).to(device)
        for i in range(steps_per_epoch):
            index = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            x = random_crop_flip(to_signed_unit(images[index]), 4, rng)
            loss = F.cross_entropy(model(x.contiguous(memory_format=torch.channels_last)), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.update(1)
            if i % 50 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    return model.eval()


@torch.inference_mode()
def accuracy(model: FeatureNet, data: ImageSet, device: torch.device, batch_size: int = 500) -> float:
    correct = 0
    for start in range(0, len(data), batch_size):
        x = data.images[start : start + batch_size].to(device)
        correct += int((model(x).argmax(1).cpu() == data.labels[start : start + batch_size]).sum())
    return correct / len(data)


def random_crop_flip(images: Tensor, pad: int, generator: torch.Generator) -> Tensor:
    """Random translation by up to `pad` pixels (reflect-padded crop) and horizontal flip.

    images: (N, C, H, W) float. Offsets and flips come from `generator` (CPU), so a seed
    fixes them on any device. pad=0 and no flips is the identity.
    """
    n, _, h, w = images.shape
    device = images.device
    flip = torch.rand(n, generator=generator) < 0.5
    images = torch.where(flip.to(device)[:, None, None, None], images.flip(3), images)
    if pad == 0:
        return images
    padded = F.pad(images, (pad, pad, pad, pad), mode="reflect")
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(device)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(device)
    rows = (oy[:, None] + torch.arange(h, device=device))[:, None, :, None]  # (N, 1, H, 1)
    cols = (ox[:, None] + torch.arange(w, device=device))[:, None, None, :]  # (N, 1, 1, W)
    batch = torch.arange(n, device=device)[:, None, None, None]
    chans = torch.arange(images.shape[1], device=device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


# ---------------------------------------------------------------- the shipped CIFAR-10 classifier


def translate_batch(padded: Tensor, pad: int, size: int, generator: torch.Generator) -> Tensor:
    """Random crops of `size` from reflect-padded images (N, C, size + 2 pad, ...): each image
    shifted by up to `pad` pixels in each direction, offsets drawn on the CPU."""
    shifts = torch.randint(0, 2 * pad + 1, (len(padded), 2), generator=generator).to(padded.device)
    out = torch.empty(len(padded), padded.shape[1], size, size, dtype=padded.dtype, device=padded.device)
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            chosen = (shifts[:, 0] == dy) & (shifts[:, 1] == dx)
            out[chosen] = padded[chosen, :, dy : dy + size, dx : dx + size]
    return out


def tta_logits(model: CifarNet, images: Tensor, batch_size: int = 1000) -> Tensor:
    """Class logits of uint8 images averaged over test-time views: the image and its mirror,
    and both shifted one pixel up-left and down-right (weights 1/2 and 1/4, 1/4)."""
    model.eval()
    out = []
    with torch.no_grad():
        for chunk in images.split(batch_size):
            x = model.normalise(chunk.to(model.mean.device))

            def mirrored(view: Tensor) -> Tensor:
                return 0.5 * (model.logits(view) + model.logits(view.flip(-1)))

            padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
            size = x.shape[-1]
            shifted = 0.5 * (mirrored(padded[..., :size, :size]) + mirrored(padded[..., 2:, 2:]))
            out.append((0.5 * mirrored(x) + 0.5 * shifted).float().cpu())
    return torch.cat(out)


def train_cifar_net(  # noqa: PLR0915
    cfg: CifarNetConfig, train: ImageSet, device: torch.device, progress: bool = True
) -> tuple[CifarNet, dict]:
    """Train the shipped classifier (airbench94's recipe): whitening init from 5,000 training
    images, label-smoothed cross-entropy summed over the batch, Nesterov SGD with a
    triangular lr, lookahead, flips that alternate by epoch and random translation.
    Returns the model (eval mode, float32, CPU) and training facts."""
    torch.manual_seed(cfg.seed)
    rng = torch.Generator().manual_seed(cfg.seed)
    # channels-last: oneDNN's and cuDNN's fast layout for bf16 convolutions (3x on an AMX CPU)
    model = CifarNet(len(train.classes)).to(device, memory_format=torch.channels_last)
    images = model.normalise(train.images.to(device))
    model.init_whitening(images[:5000])
    labels = train.labels.to(device)
    # half the images flipped once; every other epoch flips them all: each image is seen
    # both ways in two consecutive epochs
    flipped = torch.rand(len(images), generator=rng).to(device) < 0.5
    images = torch.where(flipped[:, None, None, None], images.flip(-1), images)
    pad = cfg.translate
    padded = F.pad(images, (pad,) * 4, mode="reflect") if pad else images
    size = images.shape[-1]
    del images

    steps_per_epoch = len(train) // cfg.batch_size
    total_steps = math.ceil(steps_per_epoch * cfg.epochs)
    kilostep = 1024 * (1 + 1 / (1 - cfg.momentum))  # Nesterov's step gain, per 1,024 examples
    lr = cfg.lr / kilostep
    decay = cfg.weight_decay * cfg.batch_size / kilostep
    bias_lr = lr * cfg.bias_lr_scale
    norm_shifts = [p for n, p in model.named_parameters() if "norm" in n and p.requires_grad]
    others = [p for n, p in model.named_parameters() if "norm" not in n and p.requires_grad]
    optimizer = torch.optim.SGD(
        [
            {"params": norm_shifts, "lr": bias_lr, "weight_decay": decay / bias_lr},
            {"params": others, "lr": lr, "weight_decay": decay / lr},
        ],
        momentum=cfg.momentum,
        nesterov=True,
    )
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    warmup = int(total_steps * 0.23)

    def lr_factor(step: int) -> float:  # 0.2 -> 1 over the first 23%, then down to 0.07
        if step < warmup:
            return 0.2 + 0.8 * step / warmup
        return 1.0 - 0.93 * (step - warmup) / (total_steps - warmup)

    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing, reduction="sum")
    use_bf16 = cfg.bf16 and bf16_native(device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)
    bar = tqdm(total=total_steps, desc="cifar_net", disable=not progress, mininterval=5.0)
    step, epoch = 0, 0
    model.train()
    while step < total_steps:
        model.whiten.bias.requires_grad_(epoch < cfg.whiten_bias_epochs)
        batch_images = translate_batch(padded, pad, size, rng) if pad else padded
        if epoch % 2 == 1:
            batch_images = batch_images.flip(-1)
        order = torch.randperm(len(labels), generator=rng).to(device)
        for i in range(steps_per_epoch):
            index = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
                group["lr"] = base * lr_factor(step)
            batch = batch_images[index].contiguous(memory_format=torch.channels_last)
            with autocast:
                loss = loss_fn(model.logits(batch), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if step % cfg.lookahead_every == 0 or step == total_steps:
                # lookahead: pull the weights towards their average, harder late in training
                alpha = 1.0 if step == total_steps else 0.95**5 * (step / total_steps) ** 3
                with torch.no_grad():
                    for name, value in model.state_dict().items():
                        if value.is_floating_point():
                            ema[name].lerp_(value, 1 - alpha)
                            value.copy_(ema[name])
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{loss.item() / cfg.batch_size:.3f}")
            if step == total_steps:
                break
        epoch += 1
    bar.close()
    facts = {"steps": total_steps, "epochs": cfg.epochs, "bf16": use_bf16, "device": str(device)}
    return model.float().cpu().to(memory_format=torch.contiguous_format).eval(), facts
