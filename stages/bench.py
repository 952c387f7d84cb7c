"""Benchmark: training and evaluation images per second on this machine.

    python -m stages.bench [--steps 100] [--device auto] [--families dcgan3 cgan1 | all]
                           [--style-size 256] [--style-iterations 30]

Trains each family for --steps steps on random uint8 CIFAR-sized data through the same
loop as the pipeline (after warm-up steps that are not timed), and pushes generated
images through each feature backbone available here, and times L-BFGS iterations of
VGG19 style transfer (default layers; random weights when the file is absent: the speed
is the same). Prints a table, then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import resource
import time

import torch

from stages.config import Backbone, Device, EvalConfig, load_params
from stages.data.dataset import ImageSet
from stages.device import resolve_device, set_threads
from stages.errors import UserError, run_main
from stages.metrics.backbones import FeatureBackbone, inception_weights_path, load_inception
from stages.models.featurenet import FeatureNet
from stages.training import train_gan

WARMUP_STEPS = 10


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def bench_training(cfg, family: str, steps: int, device: torch.device) -> dict:  # noqa: ANN001
    """Images/s of the real training loop (warm-up excluded)."""
    data = ImageSet(
        torch.randint(0, 256, (4096, 3, 32, 32), dtype=torch.uint8), torch.randint(0, 10, (4096,)), ["x"] * 10
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    warm = dataclasses.replace(cfg.train, steps=WARMUP_STEPS)
    train_gan(warm, cfg.models[family], data, device, progress=False)
    timed = dataclasses.replace(cfg.train, steps=steps)
    if device.type == "cuda":
        torch.cuda.synchronize()
    result = train_gan(timed, cfg.models[family], data, device, progress=False)
    return {
        "train_images_per_second": round(result.images_seen / result.seconds, 1),
        # one step = d_steps critic updates + one generator update (5 + 1 for the WGANs)
        "milliseconds_per_step": round(1000 * result.seconds / steps, 1),
        "batch_size": cfg.train.batch_size,
        "steps": steps,
        "peak_memory_mb": round(peak_memory_mb(device), 1),
    }


def bench_style(size: int, iterations: int, device: torch.device) -> dict:
    """Seconds per L-BFGS iteration of a VGG19 transfer at size x size (warm-up excluded)."""
    from stages.config import StyleConfig
    from stages.styletransfer import StyleLoss, StyleSettings, load_vgg19, transfer, vgg19_weights_path

    cfg = StyleConfig(image_size=size)
    path = vgg19_weights_path(cfg)
    backbone = load_vgg19(path if path.is_file() else None)
    settings = StyleSettings.resolve(cfg, backbone)
    backbone.keep_up_to(settings.content_layers + settings.style_layers)
    backbone.to(device)
    generator = torch.Generator().manual_seed(0)
    content, style = (torch.rand(1, 3, size, size, generator=generator).to(device) for _ in range(2))
    loss = StyleLoss(backbone, settings, content, style)
    transfer(cfg, loss, content, [3], progress=False)  # warm-up
    result = transfer(cfg, loss, content, [iterations], progress=False)
    return {
        "backbone": backbone.info.name,
        "image_size": size,
        "iterations": iterations,
        "iterations_per_second": round(iterations / result.seconds, 2),
        "seconds_for_300_iterations": round(300 * result.seconds / iterations, 1),
    }


@torch.inference_mode()
def bench_backbone(backbone: torch.nn.Module, device: torch.device, images: int, batch: int) -> float:
    """Feature-extraction images/s for uint8 32x32 inputs (the backbone resizes as it needs)."""
    backbone.to(device).eval()
    x = torch.randint(0, 256, (batch, 3, 32, 32), dtype=torch.uint8, device=device)
    backbone(x)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    tick = time.perf_counter()
    for _ in range(max(1, images // batch)):
        backbone(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return round(max(1, images // batch) * batch / (time.perf_counter() - tick), 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--device", default="auto", choices=[d.value for d in Device])
    parser.add_argument(
        "--families", nargs="*", default=None, help="default: the families in params; `all`: every model"
    )
    parser.add_argument("--inception-images", type=int, default=0, help="0 = 50 on CPU, 5000 on GPU")
    parser.add_argument("--style-size", type=int, default=0, help="0 = 256 on CPU, 512 on GPU; -1 = skip")
    parser.add_argument("--style-iterations", type=int, default=30)
    args = parser.parse_args(argv)
    cfg = load_params(args.params)
    threads = set_threads(cfg.train.num_threads)
    device = resolve_device(Device(args.device))
    cfg.train.device = Device(args.device)
    figures: dict = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"cpu ({threads} threads)",
        "machine": platform.machine(),
        "torch": torch.__version__,
        "train": {},
        "eval_images_per_second": {},
    }
    families = list(cfg.models) if args.families == ["all"] else (args.families or cfg.families)
    for family in families:
        if family not in cfg.models:
            raise UserError(f"--families {family}: no models.{family} in {args.params}")
        result = figures["train"][family] = bench_training(cfg, family, args.steps, device)
        print(
            f"train {family:15s} {result['train_images_per_second']:>10.1f} img/s "
            f"{result['milliseconds_per_step']:>8.1f} ms/step "
            f"(batch {cfg.train.batch_size}, peak {result['peak_memory_mb']:.0f} MB)"
        )

    classifier = FeatureNet(10, cfg.featurenet.width, tuple(cfg.featurenet.convs))
    extract = FeatureBackbone(classifier, None, lambda net, x: net.embed(x))  # type: ignore[arg-type]
    on_gpu = device.type == "cuda"
    figures["eval_images_per_second"]["featurenet"] = bench_backbone(
        extract, device, 20000 if on_gpu else 2000, 500
    )
    print(f"eval  featurenet   {figures['eval_images_per_second']['featurenet']:>10.1f} img/s")
    eval_cfg = EvalConfig(backbone=Backbone.inception, inception_weights=cfg.eval.inception_weights)
    if inception_weights_path(eval_cfg).is_file():
        count = args.inception_images or (5000 if on_gpu else 50)
        rate = bench_backbone(load_inception(eval_cfg), device, count, 250 if on_gpu else 25)
        figures["eval_images_per_second"]["inception"] = rate
        print(f"eval  inception    {rate:>10.1f} img/s")
    else:
        print(f"eval  inception    skipped: {inception_weights_path(eval_cfg)} not on this machine")
    if args.style_size >= 0:
        size = args.style_size or (512 if on_gpu else 256)
        style = figures["style"] = bench_style(size, args.style_iterations, device)
        print(
            f"style {style['backbone']} {size} px: {style['iterations_per_second']:.2f} L-BFGS it/s, "
            f"{style['seconds_for_300_iterations']:.1f} s for 300"
        )
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    run_main(main)
