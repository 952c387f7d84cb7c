"""The convolutional autoencoder of the `outliers` stage (the deck's outlier testing).

Three stride-2 convolutions down to a (4 * width, H/8, W/8) code and three transposed
convolutions back. No batch norm: an image's reconstruction error must not depend on
which other images share its batch.
"""

from __future__ import annotations

from torch import Tensor, nn


class ConvAutoencoder(nn.Module):
    def __init__(self, channels: int = 3, width: int = 32) -> None:
        super().__init__()
        widths = [channels, width, 2 * width, 4 * width]
        down: list[nn.Module] = []
        for c_in, c_out in zip(widths, widths[1:], strict=False):
            down += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        up: list[nn.Module] = []
        reversed_widths = widths[::-1]
        for c_in, c_out in zip(reversed_widths, reversed_widths[1:], strict=False):
            up += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.ReLU()]
        up[-1] = nn.Tanh()  # images are in [-1, 1]
        self.encoder = nn.Sequential(*down)
        self.decoder = nn.Sequential(*up)

    def forward(self, images: Tensor) -> Tensor:
        return self.decoder(self.encoder(images))
