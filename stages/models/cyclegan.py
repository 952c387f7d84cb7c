"""CycleGAN (Zhu et al. 2017) as the authors' reference code builds it.

ResNet generator: reflection-padded 7x7 conv, two stride-2 downsamplings, residual blocks
(9 at 256 px, 6 at 128 and below), two transposed-conv upsamplings, 7x7 conv, tanh; instance
norm without affine parameters or running statistics. Discriminator: the 70x70 PatchGAN
(three stride-2 4x4 convs, one stride-1, then a 1-channel map of patch scores). Weights
N(0, 0.02). The image pool keeps 50 generated images and hands D an old one half the time.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            _norm(channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            _norm(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """(N, 3, H, W) in [-1, 1] -> (N, 3, H, W) in [-1, 1]; H and W multiples of 4."""

    def __init__(self, n_blocks: int = 9, width: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(3, width, 7),
            _norm(width),
            nn.ReLU(inplace=True),
        ]
        for factor in (1, 2):  # 64 -> 128 -> 256 channels at width 64
            layers += [
                nn.Conv2d(width * factor, width * factor * 2, 3, stride=2, padding=1),
                _norm(width * factor * 2),
                nn.ReLU(inplace=True),
            ]
        layers += [ResidualBlock(width * 4) for _ in range(n_blocks)]
        for factor in (4, 2):
            layers += [
                nn.ConvTranspose2d(width * factor, width * factor // 2, 3, 2, padding=1, output_padding=1),
                _norm(width * factor // 2),
                nn.ReLU(inplace=True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, 3, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """(N, 3, H, W) -> (N, 1, H/8 - 2, W/8 - 2) raw scores, one per 70x70 patch (3 layers)."""

    def __init__(self, width: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        channels = width
        for n in range(1, n_layers + 1):
            out = width * min(2**n, 8)
            stride = 2 if n < n_layers else 1  # the last of these keeps the resolution
            layers += [nn.Conv2d(channels, out, 4, stride, 1), _norm(out), nn.LeakyReLU(0.2, inplace=True)]
            channels = out
        layers.append(nn.Conv2d(channels, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(layer.weight, 0.0, std)
            nn.init.zeros_(layer.bias)


def default_blocks(image_size: int) -> int:
    """The reference code's choice: 9 residual blocks at 256 px, 6 at 128 and below."""
    return 9 if image_size >= 256 else 6


class ImagePool:
    """The history buffer of Shrivastava et al.: D sees a mix of new and older fakes.

    Until `size` images are stored each new one is stored and returned; then each new image
    is, with probability 0.5, swapped for a random stored one (which is returned instead).
    Draws come from its own seeded generator, saved with `state_dict` for exact resumes.

    The draws (`plan`, on the host) are apart from the exchange (`exchange`, on the images'
    device, no host sync), so the exchange can sit inside a CUDA graph: the buffer is one
    device tensor of size + 1 slots, the last taking the images that are not kept.
    """

    def __init__(self, size: int = 50, seed: int = 0) -> None:
        self.size = size
        self.count = 0  # images stored so far, at most size
        self.buffer: Tensor | None = None  # made on the first exchange, in the images' shape
        self.generator = torch.Generator().manual_seed(seed)

    def plan(self, n: int) -> tuple[Tensor, Tensor]:
        """For each of the next n images: (the slot it goes into, whether the image that
        slot held comes out instead), drawn as the reference draws them."""
        slots, swaps = [], []
        for _ in range(n if self.size > 0 else 0):
            if self.count < self.size:
                slots.append(self.count)
                swaps.append(False)
                self.count += 1
            elif torch.rand((), generator=self.generator) < 0.5:
                slots.append(int(torch.randint(self.size, (), generator=self.generator)))
                swaps.append(True)
            else:
                slots.append(self.size)
                swaps.append(False)
        return torch.tensor(slots, dtype=torch.long), torch.tensor(swaps, dtype=torch.bool)

    def exchange(self, images: Tensor, slots: Tensor, swaps: Tensor) -> Tensor:
        """Carry out a plan on a batch (slots and swaps on the images' device); image by
        image, so a slot drawn twice in one batch behaves as in the reference."""
        images = images.detach()  # D's update must not reach back into G's freed graph
        if self.size == 0:
            return images
        if self.buffer is None:
            self.buffer = images.new_zeros(self.size + 1, *images.shape[1:])
        out = []
        for i in range(len(images)):
            held = self.buffer.index_select(0, slots[i : i + 1])
            self.buffer.index_copy_(0, slots[i : i + 1], images[i : i + 1])
            out.append(torch.where(swaps[i], held[0], images[i]))
        return torch.stack(out)

    def query(self, images: Tensor) -> Tensor:
        """plan and exchange in one call."""
        slots, swaps = self.plan(len(images))
        return self.exchange(images, slots.to(images.device), swaps.to(images.device))

    def state_dict(self) -> dict:
        images = self.buffer[: self.count].cpu() if self.count else torch.empty(0)
        return {"images": images, "rng": self.generator.get_state()}

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        images = state["images"]
        self.count = len(images)
        self.buffer = None
        if self.count:
            self.buffer = images.new_zeros(self.size + 1, *images.shape[1:]).to(device)
            self.buffer[: self.count] = images.to(device)
        self.generator.set_state(state["rng"])
