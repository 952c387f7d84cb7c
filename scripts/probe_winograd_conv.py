"""Can less arithmetic make DCGAN's 4x4 stride-2 convolutions faster than oneDNN's in fp32?
A stride-2 4x4 convolution is four stride-1 2x2 convolutions over the input's 2x2 phases
(space to depth), and a 2x2 convolution in Winograd's F(2x2, 2x2) form needs 9 instead of
16 multiplies per 2x2 output tile: 1.78x fewer in the matrix products. This times forward
plus backward of radford64 D's four convolutions both ways (batch 64), in PyTorch ops, and
prints each layer's ratio and largest difference. Writes nothing.

    python scripts/probe_winograd_conv.py [REPS]

Run it under the caps of `NUMERICS=avx2` (ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
MKL_ENABLE_INSTRUCTIONS=AVX2) to see what an AVX2-only CPU's fp32 kernels do.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

# (batch, in channels, out channels, input side) of radford64's discriminator
LAYERS = ((64, 3, 64, 64), (64, 64, 128, 32), (64, 128, 256, 16), (64, 256, 512, 8))


def input_transform(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Winograd's B^T along `dim`, tiles of 3 at stride 2: (t0 - t1, t1, t2 - t1) stacked first."""
    tiles = (t.shape[dim] - 1) // 2

    def every_other(start: int) -> torch.Tensor:
        index = [slice(None)] * t.dim()
        index[dim] = slice(start, start + 2 * tiles, 2)
        return t[tuple(index)]

    t0, t1, t2 = every_other(0), every_other(1), every_other(2)
    return torch.stack((t0 - t1, t1, t2 - t1))


def winograd_conv4_stride2(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """conv2d(x, weight, stride=2, padding=1) for a 4x4 kernel and sides that are multiples of 4.
    x (N, C, H, W), weight (O, C, 4, 4) -> (N, O, H/2, W/2)."""
    n, c, h, w = x.shape
    out = weight.shape[0]
    padded = F.pad(x, (1, 1, 1, 1))
    hh, wh = (h + 2) // 2, (w + 2) // 2
    # the 2x2 phases as channels, channels last for the matrix products
    phases = padded.reshape(n, c, hh, 2, wh, 2).permute(0, 2, 4, 3, 5, 1).reshape(n, hh, wh, 4 * c)
    kernel = weight.reshape(out, c, 2, 2, 2, 2).permute(3, 5, 1, 2, 4, 0).reshape(4 * c, 2, 2, out)
    v = input_transform(input_transform(phases, 1), 3).transpose(0, 1)  # (3, 3, N, th, tw, 4C)
    th, tw = v.shape[3], v.shape[4]
    g_rows = torch.stack((kernel[:, 0], kernel[:, 0] + kernel[:, 1], kernel[:, 1]))  # G along rows
    g = torch.stack((g_rows[:, :, 0], g_rows[:, :, 0] + g_rows[:, :, 1], g_rows[:, :, 1]), 1)
    m = torch.bmm(v.reshape(9, n * th * tw, 4 * c), g.reshape(9, 4 * c, out)).reshape(3, 3, n, th, tw, out)
    rows = torch.stack((m[0] + m[1], m[1] + m[2]), 3)  # A^T along rows: (3, N, th, 2, tw, O)
    y = torch.stack((rows[0] + rows[1], rows[1] + rows[2]), 4)  # (N, th, 2, tw, 2, O)
    return y.reshape(n, 2 * th, 2 * tw, out).permute(0, 3, 1, 2)


def direct_conv4_stride2(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, weight, stride=2, padding=1)


def seconds_per_step(conv: Callable, x: torch.Tensor, weight: torch.Tensor, reps: int) -> float:
    for _ in range(2):  # warm-up: oneDNN's primitive cache, allocator
        conv(x, weight).square().mean().backward()
    start = time.perf_counter()
    for _ in range(reps):
        conv(x, weight).square().mean().backward()
    return (time.perf_counter() - start) / reps


def main(reps: int) -> None:
    torch.manual_seed(0)
    print(f"ATen {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads, fp32")
    total_direct = total_winograd = 0.0
    for n, c, out, side in LAYERS:
        x = torch.randn(n, c, side, side, requires_grad=True)
        weight = (torch.randn(out, c, 4, 4) * 0.02).requires_grad_()
        difference = (winograd_conv4_stride2(x, weight) - direct_conv4_stride2(x, weight)).abs().max()
        direct = seconds_per_step(direct_conv4_stride2, x, weight, reps)
        winograd = seconds_per_step(winograd_conv4_stride2, x, weight, reps)
        total_direct, total_winograd = total_direct + direct, total_winograd + winograd
        print(
            f"{c:>3} -> {out:<3} at {side:>2} px: conv2d {direct * 1e3:6.1f} ms, "
            f"Winograd {winograd * 1e3:6.1f} ms, conv2d / Winograd {direct / winograd:.2f}, "
            f"largest difference {difference:.1e}"
        )
    print(f"all four: conv2d / Winograd {total_direct / total_winograd:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
