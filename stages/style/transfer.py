"""Neural style transfer (Gatys, Ecker and Bethge, 2016) on named conv layers.

The image being optimised lives in [0, 1] RGB; each backbone normalises it as it was
trained (VGG19: ImageNet mean/std; featurenet: [-1, 1]). A layer name such as `conv4_2`
means the activation after that convolution's ReLU, as in the paper's Caffe model, where
the ReLUs were in place. Only the layers up to the deepest one used are kept in memory.
As in the paper, max-pooling becomes average pooling (style.pooling) and each style
layer's term is E_l = sum((G - A)^2) / (4 N^2 M^2) (style.gram_norm); unlike it, the
default start is the content image and the content term is a mean, not half a sum.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from stages.core.errors import UserError
from stages.core.io import csv_text, load_torch, sha256_file
from stages.core.schema import (
    GramNorm,
    StyleBackbone,
    StyleConfig,
    StyleInit,
    StyleOptimizer,
    StyleParamSet,
    StylePooling,
)
from stages.data.readers import decode_image
from stages.models.featurenet import load_featurenet

VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's VGG19_Weights.IMAGENET1K_V1
VGG19_BLOCKS = (2, 2, 4, 4, 4)  # conv layers per block (torchvision's configuration "E")
VGG19_DEFAULT_CONTENT = ("conv4_2",)
VGG19_DEFAULT_STYLE = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_layer_indices() -> dict[str, int]:
    """conv<b>_<i> -> index of its ReLU in torchvision's vgg19().features."""
    names, index = {}, 0
    for block, count in enumerate(VGG19_BLOCKS, start=1):
        for i in range(1, count + 1):
            names[f"conv{block}_{i}"] = index + 1  # conv at index, ReLU right after
            index += 2
        index += 1  # the max-pool closing the block
    return names


@dataclass
class StyleBackboneInfo:
    name: str  # "vgg19-imagenet" | "featurenet" | "vgg19-random" (tests)
    weights_sha256: str
    default_content: tuple[str, ...]
    default_style: tuple[str, ...]


class LayerFeatures(nn.Module):
    """[0, 1] images -> {layer name: activation}, running the layers only as deep as needed."""

    def __init__(
        self,
        layers: nn.Sequential,
        indices: dict[str, int],
        normalise: Callable[[Tensor], Tensor],
        info: StyleBackboneInfo,
    ) -> None:
        super().__init__()
        self.layers = layers
        self.indices = indices
        self.normalise = normalise
        self.info = info
        self.requires_grad_(False)
        self.eval()

    def check_layers(self, names: list[str], key: str) -> None:
        unknown = [n for n in names if n not in self.indices]
        if unknown:
            raise UserError(
                f"{key}: unknown layer {unknown[0]!r} for backbone {self.info.name} "
                f"(valid: {', '.join(self.indices)})"
            )

    def keep_up_to(self, names: list[str]) -> None:
        """Drop every layer after the deepest one in `names` (memory, and time)."""
        last = max(self.indices[n] for n in names)
        self.layers = self.layers[: last + 1]
        self.indices = {n: i for n, i in self.indices.items() if i <= last}

    def forward(self, images: Tensor, names: set[str]) -> dict[str, Tensor]:
        wanted = {self.indices[n]: n for n in names}
        out, x = {}, self.normalise(images)
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index in wanted:
                out[wanted[index]] = x
                if len(out) == len(wanted):
                    break
        return out


def vgg19_weights_path(cfg: StyleConfig) -> Path:
    if cfg.vgg_weights:
        return Path(cfg.vgg_weights).expanduser()
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE


def _imagenet_normalise(images: Tensor) -> Tensor:
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std


def load_vgg19(path: Path | None) -> LayerFeatures:
    """VGG19's convolutional part from torchvision's weights file; None = random (tests only)."""
    from torchvision.models import vgg19

    features = vgg19(weights=None).features
    if path is None:
        sha, name = "random", "vgg19-random"
    else:
        if not path.is_file():
            raise UserError(
                f"{path}: VGG19 weights not found; download "
                f"https://download.pytorch.org/models/{VGG19_FILE} to that path (or to "
                f"{Path(torch.hub.get_dir()) / 'checkpoints'}), or use style.backbone=featurenet"
            )
        state = load_torch(path)
        prefix = "features."
        conv_state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        try:
            features.load_state_dict(conv_state)
        except RuntimeError as err:
            raise UserError(f"{path}: not torchvision VGG19 weights ({str(err).splitlines()[0]})") from None
        sha, name = sha256_file(path), "vgg19-imagenet"
    info = StyleBackboneInfo(name, sha, VGG19_DEFAULT_CONTENT, VGG19_DEFAULT_STYLE)
    return LayerFeatures(features, vgg19_layer_indices(), _imagenet_normalise, info)


def featurenet_layers(path: Path) -> LayerFeatures:
    """The conv blocks of the pipeline's evaluation classifier, named as VGG's are."""
    model, _ = load_featurenet(path)
    layers = model.features
    names = list(dict(layers.named_children()))
    indices = {n: names.index(f"relu{n[4:]}") for n in names if n.startswith("conv")}
    blocks = sorted({n.split("_")[0] for n in indices})
    info = StyleBackboneInfo(
        "featurenet",
        sha256_file(path),
        (max(n for n in indices if n.startswith(blocks[-1])),),  # the last conv of the last block
        tuple(f"{b}_1" for b in blocks),
    )
    return LayerFeatures(layers, indices, lambda x: x * 2 - 1, info)


def resolve_style_backbone(cfg: StyleConfig) -> StyleBackbone:
    """auto -> vgg19 when its weights file is on this machine, else featurenet."""
    if cfg.backbone != StyleBackbone.auto:
        return cfg.backbone
    return StyleBackbone.vgg19 if vgg19_weights_path(cfg).is_file() else StyleBackbone.featurenet


def load_style_backbone(cfg: StyleConfig, featurenet_file: Path) -> LayerFeatures:
    if resolve_style_backbone(cfg) == StyleBackbone.vgg19:
        backbone = load_vgg19(vgg19_weights_path(cfg))
    else:
        backbone = featurenet_layers(featurenet_file)
    if cfg.pooling == StylePooling.avg:
        average_pooling(backbone.layers)
    return backbone


def average_pooling(layers: nn.Sequential) -> int:
    """Gatys et al.'s change to VGG: every max-pool becomes an average pool of the same
    window, in place (indices and layer names stay). Returns how many."""
    swapped = 0
    for index, layer in enumerate(layers):
        if isinstance(layer, nn.MaxPool2d):
            layers[index] = nn.AvgPool2d(layer.kernel_size, layer.stride, layer.padding, layer.ceil_mode)
            swapped += 1
    return swapped


# ---------------------------------------------------------------- losses


def gram_matrix(features: Tensor, norm: GramNorm = GramNorm.gatys) -> Tensor:
    """(N, C, H, W) -> (N, C, C) feature correlations F F^T, divided by M = H * W (gatys)
    or by C * H * W (per_entry_mean): the scale `style_layer_loss` expects."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    scale = h * w if norm == GramNorm.gatys else c * h * w
    return flat @ flat.transpose(1, 2) / scale


def style_layer_loss(gram: Tensor, target: Tensor, norm: GramNorm = GramNorm.gatys) -> Tensor:
    """One layer's style term from grams made by `gram_matrix` with the same `norm`. gatys:
    E_l = sum((G - A)^2) / (4 N^2 M^2) with the raw grams, which is the mean over the N^2
    entries of the M-scaled grams' squared difference, divided by 4."""
    mse = F.mse_loss(gram, target)
    return mse / 4 if norm == GramNorm.gatys else mse


def total_variation(images: Tensor) -> Tensor:
    return (images[..., 1:, :] - images[..., :-1, :]).pow(2).mean() + (
        images[..., :, 1:] - images[..., :, :-1]
    ).pow(2).mean()


@dataclass
class StyleSettings:
    """The resolved values of one transfer: style config + a param set + backbone defaults."""

    content_layers: list[str]
    style_layers: list[str]
    style_layer_weights: list[float]
    content_weight: float
    style_weight: float
    tv_weight: float
    gram_norm: GramNorm = GramNorm.gatys

    @classmethod
    def resolve(
        cls,
        cfg: StyleConfig,
        backbone: LayerFeatures,
        override: StyleParamSet | None = None,
        key: str = "style",
    ) -> StyleSettings:
        def pick(name: str):  # noqa: ANN202
            value = getattr(override, name, None) if override is not None else None
            return getattr(cfg, name) if value is None else value

        content = list(pick("content_layers") or backbone.info.default_content)
        style = list(pick("style_layers") or backbone.info.default_style)
        weights = list(pick("style_layer_weights") or [1.0] * len(style))
        backbone.check_layers(content, f"{key}.content_layers")
        backbone.check_layers(style, f"{key}.style_layers")
        if len(weights) != len(style):
            raise UserError(
                f"{key}.style_layer_weights: {len(weights)} weights for {len(style)} style layers"
            )
        return cls(
            content,
            style,
            weights,
            pick("content_weight"),
            pick("style_weight"),
            pick("tv_weight"),
            cfg.gram_norm,
        )


class StyleLoss(nn.Module):
    """Content, style and total-variation terms against fixed targets."""

    def __init__(
        self, backbone: LayerFeatures, settings: StyleSettings, content: Tensor, style: Tensor
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.settings = settings
        self.names = set(settings.content_layers) | set(settings.style_layers)
        with torch.no_grad():
            self.content_targets = {
                n: f.detach() for n, f in backbone(content, set(settings.content_layers)).items()
            }
            self.style_targets = {
                n: gram_matrix(f, settings.gram_norm).detach()
                for n, f in backbone(style, set(settings.style_layers)).items()
            }

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        s = self.settings
        features = self.backbone(images, self.names)
        content = sum(F.mse_loss(features[n], self.content_targets[n]) for n in s.content_layers) / len(
            s.content_layers
        )
        style = sum(
            w * style_layer_loss(gram_matrix(features[n], s.gram_norm), self.style_targets[n], s.gram_norm)
            for n, w in zip(s.style_layers, s.style_layer_weights, strict=True)
        )
        tv = total_variation(images)
        total = s.content_weight * content + s.style_weight * style + s.tv_weight * tv
        return {"content": content, "style": style, "tv": tv, "total": total}


# ---------------------------------------------------------------- optimisation


@dataclass
class TransferResult:
    snapshots: dict[int, Tensor]  # iteration -> [0, 1] image (1, 3, H, W) on the CPU
    history: list[dict[str, float]] = field(default_factory=list)  # per iteration
    seconds: float = 0.0


def transfer(
    cfg: StyleConfig,
    loss_fn: StyleLoss,
    content: Tensor,
    snapshot_at: list[int],
    progress: bool = True,
    desc: str = "stylize",
) -> TransferResult:
    """Optimise the image for max(snapshot_at) iterations (one L-BFGS or Adam step each),
    keeping a copy at each count in `snapshot_at`. Seeded: the same result every run on CPU."""
    generator = torch.Generator().manual_seed(cfg.seed)
    if cfg.init == StyleInit.noise:
        start = torch.rand(content.shape, generator=generator).to(content.device)
    else:
        start = content.clone()
    image = start.requires_grad_(True)
    if cfg.optimizer == StyleOptimizer.lbfgs:
        # max_iter=1: one iteration per step(), so an iteration count means what it says;
        # no tolerances: a small loss must not end the run early
        optimizer = torch.optim.LBFGS(
            [image], lr=cfg.lr, max_iter=1, history_size=50, tolerance_grad=0, tolerance_change=0
        )
    else:
        optimizer = torch.optim.Adam([image], lr=cfg.lr)
    last: dict[str, Tensor] = {}

    def closure() -> Tensor:
        with torch.no_grad():
            image.clamp_(0, 1)
        optimizer.zero_grad(set_to_none=True)
        losses = loss_fn(image)
        losses["total"].backward()
        last.update(losses)
        return losses["total"]

    result = TransferResult(snapshots={})
    total = max(snapshot_at)
    tick = time.perf_counter()
    for iteration in tqdm(range(1, total + 1), desc=desc, disable=not progress, mininterval=2.0):
        optimizer.step(closure)
        result.history.append({k: float(v.detach()) for k, v in last.items()})
        if iteration in snapshot_at:
            result.snapshots[iteration] = image.detach().clamp(0, 1).cpu().clone()
    if content.device.type == "cuda":
        torch.cuda.synchronize()
    result.seconds = time.perf_counter() - tick
    return result


# ---------------------------------------------------------------- images in and out


def load_image(path: str | Path, size: int, key: str) -> Tensor:
    """An image file -> (1, 3, size, size) float in [0, 1] (centre-cropped, resized)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{key}={str(path)!r}: no such image file")
    array = decode_image(path.read_bytes(), str(path), size)
    return torch.from_numpy(array).float().div(255).unsqueeze(0)


def history_csv(history: list[dict[str, float]]) -> str:
    """Losses per iteration as CSV (6 significant digits: stable bytes)."""
    columns = ["iteration", "total", "content", "style", "tv"]
    rows = ([i, *(row[c] for c in columns[1:])] for i, row in enumerate(history, start=1))
    return csv_text(columns, rows, ["d"] + [".6g"] * 4)


def prepare_transfer(cfg: StyleConfig, featurenet_file: Path, device: torch.device) -> tuple:
    """Every input checked before any optimisation: (backbone, content images by name, style)."""
    images = {
        "content": load_image(cfg.content, cfg.image_size, "style.content"),
        "control": load_image(cfg.control, cfg.image_size, "style.control"),
    }
    style = load_image(cfg.style_image, cfg.image_size, "style.style_image")
    backbone = load_style_backbone(cfg, featurenet_file)
    return backbone, {k: v.to(device) for k, v in images.items()}, style.to(device)
