"""Feature backbones for FID/KID: the standard FID Inception-v3, the CIFAR-10 classifier
shipped with the project (`cifar_net`, the default without Inception), or the classifier
the `featurenet` stage trains on the dataset.

Each takes uint8 images (N, 3, H, W) and returns (N, D) float features, and reports what
produced them (name, weights sha256, input size, resize), which goes beside every number
computed from their features.

`cifar_net` computes in float64 and hands out float32 features: the float32 convolutions
of CPUs with other instruction sets (AVX2, AVX-512, AMX) round differently, but their
float64 results agree far below float32's precision, so the same images give the same
feature bytes, and the same reference statistics, on any machine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from stages.core import paths
from stages.core.errors import UserError
from stages.core.io import sha256_file
from stages.core.schema import Backbone, EvalConfig
from stages.data.readers import CIFAR10_CLASSES
from stages.models.cifar_net import CifarNet, load_cifar_net
from stages.models.featurenet import load_featurenet

log = logging.getLogger("backbones")

# The committed weights of the shipped classifier (`make cifar-net` made them; see
# reports/cifar_net.json). A different file is refused until this pin is changed on purpose.
CIFAR_NET_SHA256 = "4f88ee2d9bb9258589cad1089722037767be72ef9c76de3cd7cf6b5d4570c220"
# the committed file, found beside this module whatever the working directory
CIFAR_NET_FILE = Path(__file__).resolve().parent / "weights" / paths.CIFAR_NET_WEIGHTS.name
INCEPTION_NAME = "inception-v3-fid"  # resizes inside itself, to 299 px
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"


@dataclass
class BackboneInfo:
    name: str  # "inception-v3-fid" | "cifar_net" | "featurenet"
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
    """auto -> inception when its weights file is on this machine, else cifar_net."""
    if cfg.backbone != Backbone.auto:
        return cfg.backbone
    return Backbone.inception if inception_weights_path(cfg).is_file() else Backbone.cifar_net


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
    info = BackboneInfo(INCEPTION_NAME, sha256_file(path), 2048, 299, "torch-fidelity TF1 bilinear")
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
            "or use eval.backbone=cifar_net"
        ) from None


def load_cifar_net_backbone(path: str | Path = CIFAR_NET_FILE) -> FeatureBackbone:
    """The shipped CIFAR-10 classifier's pooled 256-d features, computed in float64, after
    checking the file against the pinned sha256."""
    model, saved = checked_cifar_net(path)
    model = model.double()
    info = BackboneInfo(
        "cifar_net",
        CIFAR_NET_SHA256,
        model.num_features,
        32,
        "bilinear antialias to 32 px (none at 32 px)",
        round(float(saved["test_accuracy"]), 4),
    )
    # float64 convolutions run as im2col + matmul: chunks of 32 images keep those buffers
    # small (about 1.2x the speed of 250 at once on 2 cores; the features are the same bytes)
    return FeatureBackbone(model, info, lambda net, x: torch.cat([net.embed(c) for c in x.split(32)]))


def checked_cifar_net(path: str | Path = CIFAR_NET_FILE) -> tuple[CifarNet, dict]:
    """The shipped classifier (float32, eval mode) and its saved facts, refused unless its file
    is the pinned one."""
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"{path}: the shipped evaluation classifier is missing; restore it with "
            f"`git checkout -- {path}` (or choose eval.backbone=inception or featurenet)"
        )
    digest = sha256_file(path)
    if digest != CIFAR_NET_SHA256:
        raise UserError(
            f"{path}: sha256 {digest[:12]}… is not the pinned {CIFAR_NET_SHA256[:12]}…; restore it with "
            "`git checkout`, or change CIFAR_NET_SHA256 in stages/metrics/backbones.py on purpose"
        )
    return load_cifar_net(path)


def load_featurenet_backbone(path: str | Path) -> FeatureBackbone:
    model, info = load_featurenet(path)
    backbone_info = BackboneInfo(
        "featurenet",
        sha256_file(path),
        model.num_features,
        int(info["image_size"]),
        "bilinear antialias to the native size (none at it)",
        round(float(info["test_accuracy"]), 4),
    )
    return FeatureBackbone(model, backbone_info, lambda net, x: net.embed(x))


def load_backbone(cfg: EvalConfig, featurenet_file: str | Path | None) -> FeatureBackbone:
    """The backbone eval.backbone names (auto resolved), in eval mode. featurenet_file None:
    the caller scores images that are not of the dataset's classes, so featurenet is refused."""
    choice = resolve_backbone(cfg)
    if choice == Backbone.inception:
        return load_inception(cfg).eval()
    if choice == Backbone.cifar_net:
        return load_cifar_net_backbone().eval()
    if featurenet_file is None:
        raise UserError(
            "eval.backbone=featurenet: that classifier knows only data.name's classes; score these "
            "images with eval.backbone=cifar_net or inception"
        )
    return load_featurenet_backbone(featurenet_file).eval()


@dataclass
class ScoringClassifier:
    """A classifier of the dataset's classes for the classifier score and class accuracy.
    `on_features`: it is the backbone's own network, so its logits come from the features
    already extracted (its last layer), not from a second pass over the images."""

    network: nn.Module
    name: str
    weights_sha256: str
    on_features: bool = False

    def to(self, device: torch.device) -> ScoringClassifier:
        self.network.to(device)
        return self

    @torch.inference_mode()
    def logits(self, images: Tensor, features: Tensor) -> Tensor:
        """Float logits on the CPU of uint8 `images` whose backbone features are `features`."""
        if self.on_features:
            return self.network.head(features.to(self.network.classifier.weight)).float().cpu()
        return self.network(images).float().cpu()


def load_scoring_classifier(
    classes: list[str], featurenet_file: str | Path, backbone: FeatureBackbone
) -> ScoringClassifier | None:
    """The classifier score's classifier: the shipped CIFAR-10 classifier (float64, like its
    features) when the dataset's classes are CIFAR-10's, else the featurenet stage's
    classifier of this dataset; None for a single class, where there is nothing to classify."""
    if list(classes) == list(CIFAR10_CLASSES):
        shares_backbone = backbone.info.name == "cifar_net"
        network = backbone.network if shares_backbone else checked_cifar_net()[0].double()
        return ScoringClassifier(network, "cifar_net", CIFAR_NET_SHA256, on_features=shares_backbone)
    if len(classes) < 2:
        return None
    model, _ = load_featurenet(featurenet_file)
    return ScoringClassifier(model, "featurenet", sha256_file(featurenet_file))
