"""Benchmark: training and evaluation speed on this machine, against a hand-written loop.

    python -m stages.bench [--steps 0] [--batch-size 64] [--device auto]
                           [--families dcgan3 cgan1 wgan_gp sngan dcgan_radford64 | all]
                           [--reference dcgan3 dcgan_radford64] [--eval-images 0]
                           [--backbones featurenet inception]
                           [--style-size 256] [--style-iterations 30]
                           [--cyclegan-size -1] [--cyclegan-batch-sizes 1] [--cyclegan-steps 0]
                           [--plain] [--contiguous] [--compile [--compile-mode M]]
                           [--cuda-graph | --no-cuda-graph] [--amp auto|cuda|off] [--profile]
                           [--peer PATH/TO/pytorch-examples/dcgan/main.py] [--peer-batch-size 64]

Trains each family for --steps steps on random uint8 data of its design size through the
pipeline's loop (warm-up steps not timed), with the FLOPs of one step counted so the
rate can be read against the machine's matrix-multiply peak (also measured). Families
in --reference are also trained by the loop people write by hand (reference_loop) on the
same machine, and with --peer, pytorch/examples' own dcgan/main.py (unmodified, the path
to a clone's file) runs beside our 64-px Radford DCGAN in the same invocation. --plain,
--contiguous, --compile, --cuda-graph and --amp set the loop's switches
(train.fast_paths, channels_last, compile, compile_mode, cuda_graph, amp) to measure what
each is worth (--amp auto, the default here: bf16 where this machine has it natively); --profile
prints where each family's step time goes (torch.profiler, operators by self time). Then the full
evaluation path: sample N images from a DCGAN 3 generator, extract features with each
backbone available here and compute FID + KID against reference statistics (an Inception
whose weights file is absent is timed with random weights: the speed does not depend on
the values, and the figure is marked so). Last,
L-BFGS iterations of VGG19 style transfer, and with --cyclegan-size the CycleGAN loop on
random images at each of --cyclegan-batch-sizes (on CUDA eager and as a CUDA graph, side by
side). Prints a table, then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.flop_counter import FlopCounterMode

from stages.core.device import arithmetic, resolve_device, set_threads
from stages.core.errors import UserError, run_main
from stages.core.schema import (
    Amp,
    Backbone,
    CompileMode,
    Config,
    CycleGanConfig,
    Device,
    EvalConfig,
    load_params,
)
from stages.cyclegan.loop import train_cyclegan
from stages.data.dataset import ImageSet
from stages.data.images import to_signed_unit
from stages.gan.loop import train_gan
from stages.metrics.backbones import (
    BackboneInfo,
    FeatureBackbone,
    inception_weights_path,
    load_inception,
)
from stages.metrics.fid import reference_statistics
from stages.metrics.scoring import score_generator
from stages.models.featurenet import FeatureNet
from stages.models.registry import ARCHITECTURES, build_gan

WARMUP_STEPS = 5
BENCH_FAMILIES = ["dcgan3", "cgan1", "wgan_gp", "sngan", "dcgan_radford64"]
REFERENCE_FAMILIES = ["dcgan3", "dcgan_radford64"]
PEER_FAMILY = "dcgan_radford64"  # the network pytorch/examples' dcgan/main.py trains
PEER_IMAGES_PER_EPOCH = 1000  # its --dataset fake: torchvision FakeData's default size


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_mb(device: torch.device) -> float:
    """CUDA: peak allocated since the last reset; CPU: the process's peak RSS so far."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def random_data(arch: str, count: int = 4096) -> ImageSet:
    """Random uint8 images at the architecture's design size, 10 classes."""
    size = ARCHITECTURES[arch].image_size
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (count, 3, size, size), dtype=torch.uint8, generator=generator)
    return ImageSet(images, torch.randint(0, 10, (count,), generator=generator), [str(i) for i in range(10)])


def gemm_peak_gflops(device: torch.device) -> float:
    """float32 matrix-multiply rate: the ceiling a convolution-bound loop can approach."""
    n = 4096 if device.type == "cuda" else 2048
    a, b = (torch.randn(n, n, device=device) for _ in range(2))
    a @ b
    sync(device)
    repeats = 50 if device.type == "cuda" else 10
    tick = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return round(2 * n**3 * repeats / (time.perf_counter() - tick) / 1e9, 1)


def step_gflops(cfg: Config, family: str, data: ImageSet, device: torch.device) -> float | None:
    """GFLOPs of one training step (every D and G update), counted by PyTorch; None where
    the counter cannot follow the step (autograd.grad of a gradient penalty)."""
    one = dataclasses.replace(cfg.train, steps=1, amp=Amp.off, compile=False, cuda_graph=False)
    try:
        with FlopCounterMode(display=False) as counter:
            train_gan(one, cfg.models[family], data, device, progress=False)
    except RuntimeError:
        return None
    return counter.get_total_flops() / 1e9


def drop_training_budgets(cfg: Config) -> None:
    """The bench times its own step counts: a profile's per-family steps or image budget
    (models.<family>.steps, train.budget_images) would turn its warm-up into a training run."""
    cfg.train.budget_images = 0
    for name, model in cfg.models.items():
        cfg.models[name] = dataclasses.replace(model, steps=None)


def bench_training(cfg: Config, family: str, steps: int, device: torch.device) -> dict:
    """Images/s of the pipeline's training loop (warm-up excluded) and its FLOP rate."""
    data = random_data(cfg.models[family].arch)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    train_gan(
        dataclasses.replace(cfg.train, steps=WARMUP_STEPS), cfg.models[family], data, device, progress=False
    )
    sync(device)
    result = train_gan(
        dataclasses.replace(cfg.train, steps=steps), cfg.models[family], data, device, progress=False
    )
    gflops = step_gflops(cfg, family, data, device)
    return {
        "train_images_per_second": round(result.images_seen / result.seconds, 1),
        # one step = d_steps critic updates + one generator update (5 + 1 for the WGANs)
        "milliseconds_per_step": round(1000 * result.seconds / steps, 1),
        "gflop_per_step": None if gflops is None else round(gflops, 2),
        "achieved_gflops": None if gflops is None else round(gflops * steps / result.seconds, 1),
        "image_size": data.images.shape[-1],
        "batch_size": cfg.train.batch_size,
        "steps": steps,
        "peak_memory_mb": round(peak_memory_mb(device), 1),
    }


def profile_training(cfg: Config, family: str, device: torch.device, steps: int = 5, rows: int = 12) -> str:
    """The operators that take a family's step time, by self time over `steps` steps
    (warm-up excluded): which kernels a speed-up has to shorten. The profiled run's setup
    (building the networks, moving the data to the device) is counted too."""
    from torch.profiler import ProfilerActivity, profile

    data = random_data(cfg.models[family].arch)
    on_gpu = device.type == "cuda"
    model = cfg.models[family]
    train_gan(dataclasses.replace(cfg.train, steps=2), model, data, device, progress=False)
    activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if on_gpu else [])]
    with profile(activities=activities) as prof:
        train_gan(dataclasses.replace(cfg.train, steps=steps), model, data, device, progress=False)
        sync(device)
    sort = "self_cuda_time_total" if on_gpu else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=sort, row_limit=rows)


def reference_loop(cfg: Config, family: str, steps: int, device: torch.device) -> tuple[float, float]:
    """(images/s, GFLOPs of one step) of the loop people write by hand (pytorch/examples'
    DCGAN): a DataLoader over float CPU tensors copied to the device each step, fp32,
    contiguous layout, plain layers, D scored on real and fake, the losses read every step.
    Non-saturating BCE only: the GAN objective of the DCGAN families it is compared with.
    Its FLOPs against ours bound what a faster loop can gain at equal kernel speed."""
    model_cfg = cfg.models[family]
    data = random_data(model_cfg.arch)
    torch.manual_seed(0)
    generator, discriminator = build_gan(
        model_cfg.arch, model_cfg.latent_dim, data.images.shape[-1], fast_layers=False
    )
    generator.to(device)
    discriminator.to(device)
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    batch = cfg.train.batch_size
    loader = DataLoader(
        TensorDataset(to_signed_unit(data.images), data.labels),
        batch_size=batch,
        shuffle=True,
        drop_last=True,
    )

    def step(real: torch.Tensor, labels: torch.Tensor) -> None:
        real, labels = real.to(device), labels.to(device)
        fake = generator(torch.randn(batch, model_cfg.latent_dim, device=device), labels)
        d_real, d_fake = discriminator(real, labels), discriminator(fake.detach(), labels)
        d_loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-discriminator(fake, labels)).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        d_loss.item(), g_loss.item()  # what a progress print does: a sync per step

    def run(count: int) -> None:
        done = 0
        while done < count:
            for real, labels in loader:
                step(real, labels)
                done += 1
                if done == count:
                    return

    run(WARMUP_STEPS)
    sync(device)
    tick = time.perf_counter()
    run(steps)
    sync(device)
    rate = round(steps * batch / (time.perf_counter() - tick), 1)
    with FlopCounterMode(display=False) as counter:
        step(*next(iter(loader)))
    return rate, round(counter.get_total_flops() / 1e9, 2)


def check_peer(path: Path) -> None:
    if not path.is_file():
        raise UserError(f"--peer {path}: no such file (pytorch/examples' dcgan/main.py)")


def peer_dcgan(path: Path, batch: int, device: torch.device, epochs: tuple[int, int] = (1, 3)) -> dict:
    """Images/s of pytorch/examples' dcgan/main.py itself, run unmodified as its README
    says (--dataset fake: 1,000 random 64-px images per epoch, --workers 0, on the
    accelerator with --accel when we use one). It is timed at two epoch counts and the
    difference taken, so start-up (imports, building the networks) cancels; its own
    per-epoch sample and checkpoint writes stay in, as a user running it pays them."""
    check_peer(path)
    script = str(path.resolve())  # it runs in a scratch folder: a relative path would miss
    seconds = []
    with tempfile.TemporaryDirectory() as out:
        for count in epochs:
            command = [
                sys.executable, script, "--dataset", "fake", "--batchSize", str(batch),
                "--imageSize", "64", "--niter", str(count), "--workers", "0",
                "--outf", out, "--manualSeed", "1",
            ]  # fmt: skip
            if device.type == "cuda":
                command.append("--accel")
            tick = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, cwd=out)
            seconds.append(time.perf_counter() - tick)
            if done.returncode:
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                raise UserError(f"--peer {path}: exited with {done.returncode}: {last}")
    images = PEER_IMAGES_PER_EPOCH * (epochs[1] - epochs[0])
    return {
        "path": str(path),
        "batch_size": batch,
        "epochs_timed": list(epochs),
        "images_per_second": round(images / (seconds[1] - seconds[0]), 1),
    }


def bench_evaluation(cfg: Config, backbone: FeatureBackbone, count: int, device: torch.device) -> dict:
    """Seconds for FID + KID of `count` images from a DCGAN 3 generator (sampling, feature
    extraction, statistics), against reference statistics of random features."""
    generator, _ = build_gan("dcgan3", 128, 32)
    with torch.inference_mode():
        dim = backbone.to(device)(torch.zeros(2, 3, 32, 32, dtype=torch.uint8, device=device)).shape[1]
    reference = reference_statistics(torch.randn(10000, dim, dtype=torch.float64), 5000, 0)
    batch = 2000 if device.type == "cuda" else 500
    scored = dataclasses.replace(
        cfg.eval, n_samples=count, batch_size=batch, kid_subset_size=min(1000, count)
    )
    sync(device)
    tick = time.perf_counter()
    scores = score_generator(generator, 128, backbone, reference, scored, device)
    seconds = time.perf_counter() - tick
    return {
        "images": count,
        "seconds_fid_kid": round(seconds, 2),
        # sampling + feature extraction; the rest is the FID and KID statistics
        "seconds_features": round(scores["seconds"], 2),
        "images_per_second": round(count / seconds, 1),
    }


def random_inception() -> FeatureBackbone:
    """torch-fidelity's FID Inception-v3 with its initial random weights, to time the
    evaluation path where the weights file is absent (speed does not depend on values)."""
    from unittest import mock

    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    with (
        tempfile.TemporaryDirectory() as tmp,
        mock.patch.object(FeatureExtractorInceptionV3, "load_state_dict"),
    ):
        empty = Path(tmp) / "no-weights.pth"
        torch.save({}, empty)
        network = FeatureExtractorInceptionV3(
            "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty)
        )
    info = BackboneInfo(
        "inception-v3-fid (random weights: timing only)", "", 2048, 299, "torch-fidelity TF1 bilinear"
    )
    return FeatureBackbone(network, info, lambda net, x: net(x)[0])


def bench_style(size: int, iterations: int, device: torch.device) -> dict:
    """Seconds per L-BFGS iteration of a VGG19 transfer at size x size (warm-up excluded)."""
    from stages.core.schema import StyleConfig
    from stages.style.transfer import StyleLoss, StyleSettings, load_vgg19, transfer, vgg19_weights_path

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


def bench_cyclegan(  # noqa: PLR0913
    cfg: CycleGanConfig, size: int, batch: int, steps: int, device: torch.device, graphed: bool
) -> dict:
    """Images/s (both domains counted, as in train.json) of the CycleGAN loop at size x size:
    the difference of a (5 + steps)-step and a 5-step run, so building the networks, the
    warm-up and a graph's capture are not counted."""
    run_cfg = dataclasses.replace(cfg, batch_size=batch, cuda_graph=graphed, checkpoint_every=10**9)
    rng = np.random.default_rng(0)
    domain_a, domain_b = (rng.integers(0, 256, (64, size, size, 3), dtype=np.uint8) for _ in range(2))
    seconds = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with tempfile.TemporaryDirectory() as folder:
        for count in (WARMUP_STEPS, WARMUP_STEPS + steps):
            checkpoint = Path(folder) / f"{count}.pt"
            run = dataclasses.replace(run_cfg, steps=count)
            seconds.append(
                train_cyclegan(
                    run, domain_a, domain_b, domain_a[:1], device, checkpoint, "bench", None, False
                ).seconds
            )
    if seconds[1] <= seconds[0]:  # start-up noise larger than the timed steps
        raise UserError(f"--cyclegan-steps {steps}: too few to time (the longer run was not slower)")
    rate = 2 * batch * steps / (seconds[1] - seconds[0])
    return {
        "image_size": size,
        "batch_size": batch,
        "cuda_graph": graphed,
        "arithmetic": arithmetic(device, Amp.cuda if cfg.amp else Amp.off),
        "steps": steps,
        "train_images_per_second": round(rate, 1),
        "milliseconds_per_step": round(1000 * (seconds[1] - seconds[0]) / steps, 2),
        "peak_memory_mb": round(peak_memory_mb(device), 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--steps", type=int, default=0, help="timed steps; 0 = 20 on CPU, 200 on GPU")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto", choices=[d.value for d in Device])
    parser.add_argument("--families", nargs="*", default=BENCH_FAMILIES, help="`all`: every model in params")
    parser.add_argument(
        "--reference", nargs="*", default=REFERENCE_FAMILIES, help="families of hand-written loop"
    )
    parser.add_argument("--eval-images", type=int, default=0, help="0 = 5,000 on CPU, 50,000 on GPU")
    parser.add_argument(
        "--backbones", nargs="*", default=["featurenet", "inception"], choices=["featurenet", "inception"]
    )
    parser.add_argument("--style-size", type=int, default=0, help="0 = 256 on CPU, 512 on GPU; -1 = skip")
    parser.add_argument("--style-iterations", type=int, default=30)
    parser.add_argument(
        "--cyclegan-size",
        type=int,
        default=-1,
        help="CycleGAN loop at this size (-1 = skip; 0 = 64 CPU, 256 GPU)",
    )
    parser.add_argument("--cyclegan-batch-sizes", type=int, nargs="*", default=[1])
    parser.add_argument(
        "--cyclegan-steps", type=int, default=0, help="timed steps; 0 = 10 on CPU, 300 on GPU"
    )
    # the loop's switches, to measure what each one is worth on this machine
    parser.add_argument("--plain", action="store_true", help="train.fast_paths=false")
    parser.add_argument("--contiguous", action="store_true", help="train.channels_last=false")
    parser.add_argument("--compile", action="store_true", help="train.compile=true")
    parser.add_argument(
        "--compile-mode", default="default", choices=[m.name for m in CompileMode], help="train.compile_mode"
    )
    parser.add_argument(
        "--cuda-graph",
        action=argparse.BooleanOptionalAction,
        help="train.cuda_graph (default: as in --params)",
    )
    parser.add_argument(
        "--amp", default="auto", choices=[a.value for a in Amp], help="train.amp (off: fp32/TF32)"
    )
    parser.add_argument("--peer", type=Path, help="pytorch/examples' dcgan/main.py, run beside ours")
    parser.add_argument("--peer-batch-size", type=int, default=64)
    parser.add_argument("--profile", action="store_true", help="print each family's top operators")
    args = parser.parse_args(argv)
    cfg = load_params(args.params)
    threads = set_threads(cfg.train.num_threads)
    device = resolve_device(Device(args.device))
    cfg.train.device = Device(args.device)
    cfg.train.batch_size = args.batch_size
    cfg.train.fast_paths = not args.plain
    cfg.train.channels_last = not args.contiguous
    cfg.train.compile = args.compile
    cfg.train.compile_mode = CompileMode[args.compile_mode]
    if args.cuda_graph is not None:
        cfg.train.cuda_graph = args.cuda_graph
    cfg.train.amp = Amp(args.amp)
    drop_training_budgets(cfg)
    if args.peer is not None:
        check_peer(args.peer)  # before minutes of training benches, not after
    if args.cyclegan_size > 0 and (args.cyclegan_size < 32 or args.cyclegan_size % 4):
        raise UserError(f"--cyclegan-size {args.cyclegan_size}: a multiple of 4, >= 32 (the PatchGAN)")
    on_gpu = device.type == "cuda"
    steps = args.steps or (200 if on_gpu else 20)
    figures: dict = {
        "device": torch.cuda.get_device_name(device) if on_gpu else f"cpu ({threads} threads)",
        "machine": platform.machine(),
        "torch": torch.__version__,
        "loop": {
            "fast_paths": cfg.train.fast_paths,
            "channels_last": cfg.train.channels_last,
            "compile": cfg.train.compile and cfg.train.compile_mode.name,
            "cuda_graph": cfg.train.cuda_graph and on_gpu,
            "amp": cfg.train.amp.value,
            "arithmetic": arithmetic(device, cfg.train.amp),
        },
        "gemm_peak_gflops": gemm_peak_gflops(device),
        "train": {},
        "reference_loop_images_per_second": {},
        "reference_loop_gflop_per_step": {},
        "eval": {},
    }
    print(
        f"float32 matmul peak {figures['gemm_peak_gflops']:.0f} GFLOP/s on {figures['device']}; "
        f"training in {figures['loop']['arithmetic']} (train.amp={cfg.train.amp.value})"
    )
    families = list(cfg.models) if args.families == ["all"] else args.families
    for family in families + args.reference:
        if family not in cfg.models:
            raise UserError(f"--families/--reference {family}: no models.{family} in {args.params}")
    for family in families:
        result = figures["train"][family] = bench_training(cfg, family, steps, device)
        print(
            f"train {family:16s} {result['train_images_per_second']:>9.1f} img/s "
            f"{result['milliseconds_per_step']:>8.1f} ms/step "
            f"{result['achieved_gflops'] or 'n/a':>7} GFLOP/s "
            f"({result['image_size']} px, batch {args.batch_size}, peak {result['peak_memory_mb']:.0f} MB)"
        )
        if args.profile:
            print(f"where a {family} step goes:\n{profile_training(cfg, family, device)}")
    for family in args.reference:
        rate, gflops = reference_loop(cfg, family, steps, device)
        figures["reference_loop_images_per_second"][family] = rate
        figures["reference_loop_gflop_per_step"][family] = gflops
        ours = figures["train"].get(family, {})
        speedup = f", ganrepro {ours['train_images_per_second'] / rate:.2f}x" if ours else ""
        if ours.get("gflop_per_step"):  # the most a loop can gain by doing less arithmetic
            speedup += f"; its FLOPs per step {gflops / ours['gflop_per_step']:.2f}x ours"
        print(f"hand-written loop {family:16s} {rate:>9.1f} img/s{speedup}")
    if args.peer is not None:
        peer = figures["peer"] = peer_dcgan(args.peer, args.peer_batch_size, device)
        ours = figures["train"].get(PEER_FAMILY)
        if ours is None or args.peer_batch_size != args.batch_size:
            at_batch = dataclasses.replace(cfg.train, batch_size=args.peer_batch_size)
            ours = bench_training(dataclasses.replace(cfg, train=at_batch), PEER_FAMILY, steps, device)
        peer["ganrepro_images_per_second"] = ours["train_images_per_second"]
        peer["ratio"] = round(ours["train_images_per_second"] / peer["images_per_second"], 2)
        print(
            f"pytorch/examples dcgan/main.py  {peer['images_per_second']:>9.1f} img/s "
            f"(64 px, batch {args.peer_batch_size}); ganrepro {PEER_FAMILY} "
            f"{ours['train_images_per_second']:.1f} img/s in {figures['loop']['arithmetic']}: "
            f"{peer['ratio']:.2f}x"
        )

    count = args.eval_images or (50000 if on_gpu else 5000)
    backbones = {}
    if "featurenet" in args.backbones:
        classifier = FeatureNet(10, cfg.featurenet.width, tuple(cfg.featurenet.convs))
        info = BackboneInfo("featurenet", "untrained", classifier.num_features, 32, "none (native size)")
        backbones["featurenet"] = FeatureBackbone(classifier, info, lambda net, x: net.embed(x))
    eval_cfg = EvalConfig(backbone=Backbone.inception, inception_weights=cfg.eval.inception_weights)
    if "inception" in args.backbones and inception_weights_path(eval_cfg).is_file():
        backbones["inception"] = load_inception(eval_cfg)
    elif "inception" in args.backbones:
        print(f"eval  inception   {inception_weights_path(eval_cfg)} not on this machine: random weights")
        backbones["inception_random_weights"] = random_inception()
    for name, backbone in backbones.items():
        # Inception on CPU: ~5 img/s at 299 px, so a few hundred images only
        n = count if on_gpu or not name.startswith("inception") else min(count, 200)
        result = figures["eval"][name] = bench_evaluation(cfg, backbone, n, device)
        print(
            f"eval  {name:11s} FID+KID of {n} generated images in {result['seconds_fid_kid']:.1f} s "
            f"({result['images_per_second']:.0f} img/s; sampling and features "
            f"{result['seconds_features']:.1f} s)"
        )
    if args.style_size >= 0:
        size = args.style_size or (512 if on_gpu else 256)
        style = figures["style"] = bench_style(size, args.style_iterations, device)
        print(
            f"style {style['backbone']} {size} px: {style['iterations_per_second']:.2f} L-BFGS it/s, "
            f"{style['seconds_for_300_iterations']:.1f} s for 300"
        )
    if args.cyclegan_size >= 0:
        size = args.cyclegan_size or (256 if on_gpu else 64)
        cyclegan_steps = args.cyclegan_steps or (300 if on_gpu else 10)
        figures["cyclegan"] = []
        for batch in args.cyclegan_batch_sizes:
            for graphed in [False, True] if on_gpu else [False]:  # eager and graphed, side by side
                result = bench_cyclegan(cfg.cyclegan, size, batch, cyclegan_steps, device, graphed)
                figures["cyclegan"].append(result)
                print(
                    f"cyclegan {size} px batch {batch:>3} {'CUDA graph' if graphed else 'eager':10s} "
                    f"{result['train_images_per_second']:>8.1f} img/s "
                    f"{result['milliseconds_per_step']:>8.2f} ms/step "
                    f"({result['arithmetic']}, peak {result['peak_memory_mb']:.0f} MB)"
                )
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    run_main(main)
