"""Where do two CPUs' float32 training bytes part? One training step of the featurenet
classifier and one of make repro's SNGAN (width 64), on inputs built from integers (the same
bits everywhere), with an md5 of every layer's output in forward order, of every gradient
and of the weights before and after one optimiser step. Run it on two machines (or under two
sets of caps on one) and compare: the first line that differs names the layer, the op and
the pass (forward, input gradient, weight gradient) whose kernel computes other bits.

    python scripts/probe_numerics.py OUT.txt             # on each machine, same caps
    python scripts/probe_numerics.py --compare A.txt B.txt

OUT.txt starts with the machine (CPU model, PyTorch, its kernels' code path, the caps'
variables, threads); the rest is one `case phase name md5 shape` line per tensor. Nothing
else is read or written; a few seconds on 2 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import platform
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.gan.objectives import Hinge  # noqa: E402
from stages.models.featurenet import FeatureNet  # noqa: E402
from stages.models.registry import build_gan  # noqa: E402

CAP_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR")


def integer_tensor(shape: tuple[int, ...], salt: int, scale: float = 1.0) -> Tensor:
    """Values in [-scale/2, scale/2) from a multiplicative hash of each index: exact integer
    arithmetic then one rounding to float32, so every machine builds the same bits (a seeded
    randn need not: PyTorch vectorises it per code path)."""
    index = torch.arange(math.prod(shape), dtype=torch.int64) + salt * 1_000_003
    hashed = (index * 2_654_435_761) % (1 << 32)
    return ((hashed.double() / (1 << 32) - 0.5) * scale).float().reshape(shape)


def set_integer_weights(module: nn.Module, salt: int) -> None:
    """Every parameter and buffer from integer_tensor, scaled by 1/sqrt(fan-in) so activations
    stay in range; running variances at 1."""
    with torch.no_grad():
        for i, (name, tensor) in enumerate(sorted(module.state_dict(keep_vars=True).items())):
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.fill_(1.0)
                continue
            fan_in = max(1, tensor[0].numel()) if tensor.dim() > 1 else tensor.numel()
            tensor.copy_(integer_tensor(tuple(tensor.shape), salt + i, 2.0 / fan_in**0.5))


def digest(tensor: Tensor) -> str:
    return hashlib.md5(tensor.detach().contiguous().cpu().numpy().tobytes()).hexdigest()[:16]


class Recorder:
    """Collects `case phase name md5 shape` lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, case: str, phase: str, name: str, tensor: Tensor) -> None:
        shape = "x".join(str(s) for s in tensor.shape) or "scalar"
        self.lines.append(f"{case} {phase} {name} {digest(tensor)} {shape}")

    def hook_outputs(self, case: str, prefix: str, module: nn.Module) -> list:
        """Forward hooks on every leaf module: its output's md5 in call order, and in the
        backward pass that follows, the md5 of the gradient reaching that output."""
        handles = []
        for name, child in module.named_modules():
            if next(child.children(), None) is not None:
                continue

            def hook(_: nn.Module, __: tuple, output: Tensor, name: str = name) -> None:
                if isinstance(output, Tensor):
                    where = f"{prefix}.{name}"
                    self.add(case, "forward", where, output)
                    if output.requires_grad:
                        output.register_hook(lambda grad: self.add(case, "output_grad", where, grad))

            handles.append(child.register_forward_hook(hook))
        return handles

    def gradients(self, case: str, prefix: str, module: nn.Module) -> None:
        for name, param in module.named_parameters():
            if param.grad is not None:
                self.add(case, "weight_grad", f"{prefix}.{name}", param.grad)

    def weights(self, case: str, phase: str, prefix: str, module: nn.Module) -> None:
        for name, tensor in module.state_dict().items():
            if tensor.is_floating_point():
                self.add(case, phase, f"{prefix}.{name}", tensor)


def featurenet_step(record: Recorder) -> None:
    """A featurenet training step as stages.featurenet takes it: channels-last, batch 128,
    cross-entropy, SGD with Nesterov momentum and weight decay."""
    case = "featurenet"
    model = FeatureNet(10, 32).to(memory_format=torch.channels_last)
    set_integer_weights(model, 1)
    record.weights(case, "init", "net", model)
    images = integer_tensor((128, 3, 32, 32), 101, 2.0).contiguous(memory_format=torch.channels_last)
    images.requires_grad_(True)
    labels = torch.arange(128) % 10
    handles = record.hook_outputs(case, "net", model)
    loss = F.cross_entropy(model(images), labels)
    for handle in handles:
        handle.remove()
    record.add(case, "loss", "cross_entropy", loss)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loss.backward()
    record.add(case, "input_grad", "images", images.grad)
    record.gradients(case, "net", model)
    optimizer.step()
    record.weights(case, "after_step", "net", model)


def sngan_step(record: Recorder) -> None:
    """A D step and a G step of make repro's SNGAN (width 64, hinge loss, Adam 0/0.9), fp32,
    channels-last, batch 32; spectral norm's power iteration included."""
    case = "sngan"
    generator, discriminator = build_gan("sngan", 128, 32, n_classes=10, width=64)
    for salt, net in ((2, generator), (3, discriminator)):
        set_integer_weights(net, salt)
        net.to(memory_format=torch.channels_last)
    record.weights(case, "init", "G", generator)
    record.weights(case, "init", "D", discriminator)
    objective = Hinge()
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-4, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=4e-4, betas=(0.0, 0.9))
    z = integer_tensor((32, 128), 201, 4.0)
    real = integer_tensor((32, 3, 32, 32), 202, 2.0).contiguous(memory_format=torch.channels_last)
    labels = torch.arange(32) % 10
    handles = record.hook_outputs(case, "G", generator) + record.hook_outputs(case, "D", discriminator)
    fake = generator(z, labels)
    d_loss = objective.discriminator(discriminator, real, fake.detach(), labels)
    for handle in handles:
        handle.remove()
    adam_update(record, case, "d_loss", d_loss, "D", discriminator, opt_d)
    g_loss = objective.generator(discriminator, fake, labels)
    adam_update(record, case, "g_loss", g_loss, "G", generator, opt_g)


def adam_update(  # noqa: PLR0913
    record: Recorder,
    case: str,
    loss_name: str,
    loss: Tensor,
    prefix: str,
    network: nn.Module,
    optimizer: torch.optim.Optimizer,
) -> None:
    """Record the loss, its weight gradients in `network` and the weights after the step."""
    record.add(case, "loss", loss_name, loss)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    record.gradients(case, prefix, network)
    optimizer.step()
    record.weights(case, "after_step", prefix, network)


def machine_lines(threads: int) -> list[str]:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    caps = " ".join(f"{k}={os.environ.get(k, '-')}" for k in CAP_VARIABLES)
    return [
        f"# cpu: {model}",
        f"# torch {torch.__version__}, kernels {torch.backends.cpu.get_cpu_capability()}, threads {threads}",
        f"# {caps}",
    ]


def probe(threads: int) -> list[str]:
    torch.set_num_threads(threads)
    record = Recorder()
    featurenet_step(record)
    sngan_step(record)
    return machine_lines(threads) + record.lines


def compare(first: list[str], second: list[str]) -> list[str]:
    """Per case, the number of lines that differ and the first of them, in the probe's order."""
    rows = [[line for line in lines if not line.startswith("#")] for lines in (first, second)]
    if [r.split()[:3] for r in rows[0]] != [r.split()[:3] for r in rows[1]]:
        return ["the two files list other tensors: made by other versions of this probe"]
    report = []
    for case in dict.fromkeys(r.split()[0] for r in rows[0]):
        pairs = [(a, b) for a, b in zip(*rows, strict=True) if a.split()[0] == case]
        differing = [(a, b) for a, b in pairs if a != b]
        if not differing:
            report.append(f"{case}: all {len(pairs)} tensors equal")
            continue
        _, phase, name, _, shape = differing[0][0].split()
        where = f"{phase} {name} ({shape})"
        report.append(f"{case}: {len(differing)} of {len(pairs)} tensors differ; first: {where}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", type=Path)
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.compare:
        first, second = (path.read_text().splitlines() for path in args.compare)
        print("\n".join(compare(first, second)))
        return
    if args.out is None:
        parser.error("give OUT.txt, or --compare A B")
    lines = probe(args.threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"{args.out}: {len(lines) - 3} tensors")


if __name__ == "__main__":
    main()
