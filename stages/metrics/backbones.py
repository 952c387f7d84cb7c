"""Feature backbones for FID/KID: the standard FID Inception-v3, or the trained classifier.

Both take uint8 images (N, 3, H, W) and return (N, D) float features, and both report
what produced them (name, weights sha256, input size, resize), which goes beside every
number computed from their features.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from stages.core.errors import UserError
from stages.core.io import sha256_file
from stages.core.schema import Backbone, EvalConfig
from stages.models.featurenet import load_featurenet

log = logging.getLogger("backbones")

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"


@dataclass
class BackboneInfo:
    name: str  # "inception-v3-fid" | "featurenet"
    weights_sha256: str
    num_features: int
    input_size: int
    resize: str
    test_accuracy: float | None = None  # classifier backbones: on the dataset's test split

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class FeatureBackbone(nn.Module):
    """uint8 images -> features, with the protocol facts in `info`."""

    def __init__(self, network: nn.Module, info: BackboneInfo, extract) -> None:  # noqa: ANN001
        super().__init__()
        self.network = network
        self.info = info
        self._extract = extract

    @torch.inference_mode()
    def forward(self, images: Tensor) -> Tensor:
        return self._extract(self.network, images).float()


def inception_weights_path(cfg: EvalConfig) -> Path:
    """Where the Inception weights are looked for: eval.inception_weights, else the torch hub cache."""
    if cfg.inception_weights:
        return Path(cfg.inception_weights)
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def resolve_backbone(cfg: EvalConfig) -> Backbone:
    """auto -> inception when its weights file is on this machine, else classifier."""
    if cfg.backbone != Backbone.auto:
        return cfg.backbone
    return Backbone.inception if inception_weights_path(cfg).is_file() else Backbone.classifier


def load_inception(cfg: EvalConfig) -> FeatureBackbone:
    """torch-fidelity's FID Inception-v3 (TF-ported weights: the pytorch-fid/torch-fidelity protocol)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    path = inception_weights_path(cfg)
    if not path.is_file():
        _download_inception(path)
    # Check the file holds tensors only before torch-fidelity loads it (it does not pass
    # weights_only=True itself): a shared .pth must never run code here.
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise UserError(f"{path}: not a plain weights file ({str(err).splitlines()[0]})") from None
    network = FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path)
    )
    info = BackboneInfo("inception-v3-fid", sha256_file(path), 2048, 299, "torch-fidelity TF1 bilinear")
    return FeatureBackbone(network, info, lambda net, x: net(x)[0])


def _download_inception(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        log.info("downloading %s", INCEPTION_URL)
        torch.hub.download_url_to_file(INCEPTION_URL, str(path), progress=True)
    except Exception as err:  # no network, proxy, ...
        raise UserError(
            f"{path}: Inception weights missing and download failed ({type(err).__name__}); "
            f"fetch {INCEPTION_URL} and put it there (or set eval.inception_weights), "
            "or use eval.backbone=classifier"
        ) from None


def load_classifier(path: str | Path) -> FeatureBackbone:
    model, info = load_featurenet(path)
    backbone_info = BackboneInfo(
        "featurenet",
        sha256_file(path),
        model.num_features,
        int(info["image_size"]),
        "none (native size)",
        round(float(info["test_accuracy"]), 4),
    )
    return FeatureBackbone(model, backbone_info, lambda net, x: net.embed(x))


def load_backbone(cfg: EvalConfig, featurenet_file: str | Path) -> FeatureBackbone:
    """The backbone eval.backbone names (auto resolved), in eval mode."""
    choice = resolve_backbone(cfg)
    backbone = load_inception(cfg) if choice == Backbone.inception else load_classifier(featurenet_file)
    return backbone.eval()
