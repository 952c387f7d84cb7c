"""The typed schema of params.yaml and its loader.

`conf/` is composed by `dvc exp run` into `params.yaml`. The same dataclasses are
registered with Hydra (see `hydra_plugins/ganrepro_schema`) so a bad `-S` override
fails during composition, and every stage validates `params.yaml` again on load, so a
hand edit followed by `dvc repro` is caught too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import Enum
from itertools import takewhile
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from stages.core.errors import UserError

SCHEMA_NAME = "ganrepro_schema"
# the ops train.diffaugment may name (stages.gan.augment implements them)
DIFFAUGMENT_OPS = ("color", "translation", "cutout")


class DataKind(str, Enum):
    cifar10 = "cifar10"  # CIFAR-10 in any of its raw layouts (see stages.data.readers)
    shapes = "shapes"  # generated from a seed, for tests and smoke runs
    folder = "folder"  # your own images: flat, or class folders (see stages.data.folder)
    svhn = "svhn"  # SVHN's train_32x32.mat and test_32x32.mat


class LrSchedule(str, Enum):
    constant = "constant"
    step = "step"
    cosine = "cosine"
    exp = "exp"
    linear = "linear"


class GanLoss(str, Enum):
    bce = "bce"  # non-saturating BCE on logits (Goodfellow et al.)
    hinge = "hinge"
    lsgan = "lsgan"
    wasserstein = "wasserstein"  # WGAN critic loss; pair with model.clip (weight clipping)
    wasserstein_gp = "wasserstein_gp"  # WGAN-GP: gradient penalty of weight model.gp_weight


FOLDER_SIZES = (32, 64, 128, 256)  # data=folder: the sizes the GAN families are built for


class CutMixMode(str, Enum):
    # Schoenfeld et al. 2020 (U-Net GAN): a fake box pasted into a real image, which a global
    # D must call fake, so G gains nothing from patch seams
    real_fake = "real_fake"
    real_real = "real_real"  # two real images mixed and fed as real (the deck's version)


class Optimizer(str, Enum):
    adam = "adam"
    rmsprop = "rmsprop"  # the WGAN paper's choice (momentum-free, for the clipped critic)


class Backbone(str, Enum):
    auto = "auto"  # inception when its weights file is on this machine, else cifar_net
    inception = "inception"  # the FID Inception-v3 (pytorch-fid / torch-fidelity weights)
    cifar_net = "cifar_net"  # the CIFAR-10 classifier shipped with the project (frozen, pinned)
    featurenet = "featurenet"  # the classifier the featurenet stage trains on this dataset


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Amp(str, Enum):
    """Where the training loop runs under bf16 autocast (fp32 elsewhere)."""

    off = "off"
    cuda = "cuda"  # CUDA only: the same numbers on every CPU
    auto = "auto"  # CUDA, and CPUs with native bf16 (AMX or AVX-512 BF16): faster there


class CompileMode(str, Enum):
    """torch.compile's modes; the names are what a config writes, the values what torch takes."""

    default = "default"
    reduce_overhead = "reduce-overhead"  # CUDA graphs: one launch per graph, not per kernel
    max_autotune = "max-autotune"
    max_autotune_no_cudagraphs = "max-autotune-no-cudagraphs"


class Split(str, Enum):
    train = "train"
    test = "test"


class LadderRungs(str, Enum):
    full = "full"  # every rung of stages.metrics.ladder.RUNGS (16)
    core = "core"  # the 7 that the README's reading of a FID and the tested orders rest on


@dataclass
class DataConfig:
    name: str = "cifar10"
    kind: DataKind = DataKind.cifar10
    raw_dir: str = "data/raw/cifar10"
    image_size: int = 32
    # CIFAR-10 only: try torchvision's download when raw_dir holds no data (needs a network).
    download: bool = True
    # folder only, when it has no test split: the share of each class held out (seeded)
    test_fraction: float = 0.1
    # shapes only: how many images to generate per split, and from which seed
    n_train: int = 5000
    n_test: int = 1000
    seed: int = 0


@dataclass
class FeaturenetConfig:
    epochs: int = 5
    batch_size: int = 128
    lr: float = 0.1
    width: int = 32
    convs: list[int] = field(default_factory=lambda: [1, 1, 1, 1])  # conv layers per block
    weight_decay: float = 5e-4
    seed: int = 0
    device: Device = Device.auto
    # Below this test accuracy the backbone is too weak for FID to mean anything.
    min_accuracy: float = 0.75


@dataclass
class CifarNetConfig:
    """The recipe of the shipped evaluation classifier (stages.models.cifar_net), trained once
    by `make cifar-net`: airbench94's, with the learning rate and weight decay per 1,024
    examples and decoupled from the momentum."""

    epochs: float = 30.0
    batch_size: int = 1024
    lr: float = 11.5
    momentum: float = 0.85
    weight_decay: float = 0.0153
    bias_lr_scale: float = 64.0  # batch-norm shifts learn this much faster
    label_smoothing: float = 0.2
    whiten_bias_epochs: int = 3  # then the whitening layer's bias freezes too
    translate: int = 2  # random translation by up to this many pixels (reflect padding)
    lookahead_every: int = 5  # steps between lookahead (EMA) updates
    seed: int = 0
    bf16: bool = True  # bf16 autocast where the device runs it natively (CUDA, AMX CPUs)
    device: Device = Device.auto
    min_accuracy: float = 0.90  # the weights must reach this on the test split to be written


@dataclass
class OutliersConfig:
    """Stage `outliers`: a convolutional autoencoder scores every training image by its
    reconstruction error; the worst `fraction` is dropped (0 = the data passes through)."""

    fraction: float = 0.0
    epochs: int = 5
    batch_size: int = 256
    lr: float = 1e-3
    width: int = 32  # channels of the first encoder layer (then 2x, 4x)
    seed: int = 0
    device: Device = Device.auto


@dataclass
class ExtraConfig:
    """Stage `trainset`: the user's own images, appended to the training set. Keep them
    under data/extra/ (a dependency of the stage) so DVC sees when they change."""

    images: str = ""  # a folder of image files (any size and mode), all given `label`
    mat: str = ""  # an SVHN-style .mat: X (H, W, 3, N) uint8 and y (N,) class indices
    label: str = ""  # class name for the folder's images; for the .mat's too when set


@dataclass
class OversampleConfig:
    """Stage `trainset`: resample with replacement after filtering and extras. Every
    image is kept once and the rest is drawn, so no image is lost (sklearn's resample
    would draw all of them)."""

    # images in the training set afterwards; 0 = off, or with balance: classes x largest class
    target: int = 0
    balance: bool = False  # every class gets target / classes images (larger ones subsampled)
    seed: int = 0


@dataclass
class TrainConfig:
    steps: int = 3000
    # > 0: every family trains budget_images / (batch_size x d_steps) steps instead, so each
    # D sees the same real images whatever its n_critic (the all-families table)
    budget_images: int = 0
    batch_size: int = 32
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lr_schedule: LrSchedule = LrSchedule.constant
    # step: lr is multiplied by lr_gamma at each milestone (fractions of `steps`)
    lr_milestones: list[float] = field(default_factory=lambda: [0.2, 0.4, 0.6, 0.8])
    lr_gamma: float = 0.5
    # cosine / exp / linear: the lr at the last step is lr * lr_end_factor
    lr_end_factor: float = 0.1
    seed: int = 0
    device: Device = Device.auto
    amp: Amp = Amp.cuda  # bf16 autocast: off, cuda (CUDA only) or auto (also bf16-native CPUs)
    channels_last: bool = True
    # exact re-formulations (upsample+conv as one transposed conv, no weight gradients for
    # D in G's step): the same maths in fewer operations; false = the plain path
    fast_paths: bool = True
    compile: bool = False  # torch.compile G and D (measured with `make bench` before use)
    compile_mode: CompileMode = CompileMode.default
    # CUDA only: record the whole step (D and G updates, optimisers) as one CUDA graph and
    # replay it; for small models whose step is bound by kernel launches on the host
    cuda_graph: bool = False
    # > 1: the stage runs itself under torchrun with DistributedDataParallel, batch_size
    # being the global batch split across the processes (NCCL on GPUs, gloo on CPU)
    nproc_per_node: int = 1
    num_threads: int = 0  # 0 = every core of the machine (shared among nproc_per_node)
    log_every: int = 10
    checkpoint_every: int = 250
    # training health: stop when D's loss (bce, hinge, lsgan: >= 0) stays at 0 this many
    # steps in a row, D has nothing left to teach G; 0 = off. Non-finite losses or weights
    # and identical samples always stop the run (stages.gan.health).
    collapse_steps: int = 200
    grid_size: int = 10  # the sample grid is grid_size x grid_size
    # FID of fid_samples samples every fid_every steps (0 = off), in the evaluation's
    # backbone and reference: reports/fid_curve/<family>.csv, drawn by `dvc plots show`.
    # Few samples bias FID upwards: read the curve's trend, and evaluate's FID as the score.
    fid_every: int = 0
    fid_samples: int = 1000
    # The deck's improvements, on the training device (stages.gan.augment):
    augment: bool = False  # real images: rotation 15 deg, shift 10%, horizontal flip
    diffaugment: str = ""  # e.g. "color,translation,cutout": real and fake, before D
    cutmix: float = 0.0  # probability per D update that CutMix is applied (see cutmix_mode)
    cutmix_mode: CutMixMode = CutMixMode.real_fake


@dataclass
class ModelConfig:
    arch: str = "dcgan3"  # a name in stages.models.ARCHITECTURES
    latent_dim: int = 128
    width: int = 0  # channel width of architectures that take one (sngan); 0 = its default
    loss: GanLoss = GanLoss.bce
    d_steps: int = 1  # discriminator (critic) updates per generator update: WGAN's n_critic
    optimizer: Optimizer = Optimizer.adam
    # None = use train.lr_g / lr_d / beta1 / beta2 (TTUR = different lr_g and lr_d)
    lr_g: Optional[float] = None  # noqa: UP045 (OmegaConf needs typing.Optional)
    lr_d: Optional[float] = None  # noqa: UP045
    beta1: Optional[float] = None  # noqa: UP045
    beta2: Optional[float] = None  # noqa: UP045
    clip: float = 0.0  # WGAN weight clipping: every D weight kept in [-clip, clip]; 0 = off
    gp_weight: float = 10.0  # lambda of the gradient penalty (loss wasserstein_gp)
    # G keeps an exponential moving average of its weights for sampling; 0 = off
    ema_decay: float = 0.0
    # None = train.steps / train.diffaugment. A profile's own budget and augmentation for its
    # default family, so that other families' runs (the ablations) keep the shared ones.
    # train.budget_images > 0 still sets every family's steps (equal budgets win).
    steps: Optional[int] = None  # noqa: UP045
    diffaugment: Optional[str] = None  # noqa: UP045


@dataclass
class EvalConfig:
    backbone: Backbone = Backbone.auto
    # unsharp mask on generated images before scoring (and in reports/eval_grids/): amount
    # 0 = off. Output stays in [-1, 1] (the deck's FID of 680,163 came from lost scaling).
    sharpen: float = 0.0
    sharpen_sigma: float = 1.0
    # Path of torch-fidelity's weights-inception-2015-12-05-6726825d.pth; empty = torch hub cache
    inception_weights: str = ""
    n_samples: int = 5000
    reference_split: Split = Split.train
    n_reference: int = 10000  # 0 = the whole split
    kid_subset_size: int = 1000
    kid_subsets: int = 100
    batch_size: int = 250
    seed: int = 0
    device: Device = Device.auto


class StyleBackbone(str, Enum):
    auto = "auto"  # vgg19 when its weights file is on this machine, else featurenet
    vgg19 = "vgg19"
    featurenet = "featurenet"  # the pipeline's own evaluation classifier (offline fallback)


class StyleOptimizer(str, Enum):
    lbfgs = "lbfgs"
    adam = "adam"


class StyleInit(str, Enum):
    content = "content"
    noise = "noise"  # Gatys et al.'s start: white noise


class GramNorm(str, Enum):
    # Gatys et al.'s E_l = sum((G - A)^2) / (4 N^2 M^2), G = F F^T: equal layer weights give
    # every layer an equal say whatever its width
    gatys = "gatys"
    # mean over the N^2 entries of (G - A)^2 with G = F F^T / (N M): layer l then counts
    # 4 / N_l^2 times its Gatys term, so wide deep layers barely count
    per_entry_mean = "per_entry_mean"


class StylePooling(str, Enum):
    max = "max"  # the backbone as trained
    avg = "avg"  # Gatys et al.: max-pooling replaced by average pooling (smoother gradients)


@dataclass
class StyleParamSet:
    """One row of the style grid: values that replace the `style` ones (None = keep)."""

    content_layers: Optional[list[str]] = None  # noqa: UP045
    style_layers: Optional[list[str]] = None  # noqa: UP045
    style_layer_weights: Optional[list[float]] = None  # noqa: UP045
    content_weight: Optional[float] = None  # noqa: UP045
    style_weight: Optional[float] = None  # noqa: UP045
    tv_weight: Optional[float] = None  # noqa: UP045


@dataclass
class StyleConfig:
    """Neural style transfer (Gatys et al.): stages `stylize` and `style_grid`."""

    backbone: StyleBackbone = StyleBackbone.auto
    vgg_weights: str = ""  # torchvision's vgg19-dcbb9e9d.pth; empty = the torch hub cache
    content: str = "data/raw/monet/photo_jpg/00068bc07f.jpg"
    control: str = "data/raw/monet/photo_jpg/000910d219.jpg"  # the seed's second content image
    style_image: str = "data/raw/monet/monet_jpg/000c1e3bff.jpg"
    image_size: int = 256
    # empty = the backbone's default (vgg19: conv4_2 / conv1_1..conv5_1)
    content_layers: list[str] = field(default_factory=list)
    style_layers: list[str] = field(default_factory=list)
    style_layer_weights: list[float] = field(default_factory=list)  # empty = equal weights
    content_weight: float = 1.0
    style_weight: float = 1e3  # Gatys-normalised terms (gram_norm=gatys)
    tv_weight: float = 0.0
    optimizer: StyleOptimizer = StyleOptimizer.lbfgs
    lr: float = 1.0  # L-BFGS step size; for adam about 0.02
    iterations: int = 300
    init: StyleInit = StyleInit.content
    gram_norm: GramNorm = GramNorm.gatys
    pooling: StylePooling = StylePooling.avg
    seed: int = 0
    device: Device = Device.auto
    grid_iterations: list[int] = field(default_factory=lambda: [50, 100, 200, 400, 800])
    param_sets: dict[str, StyleParamSet] = field(default_factory=dict)


class SmallImages(str, Enum):
    upscale = "upscale"  # bicubic, with a warning naming the image
    error = "error"


@dataclass
class DomainsConfig:
    """Two folders of unpaired images for CycleGAN: A (source, e.g. photos) and B (target)."""

    name: str = "monet"
    a: str = "data/raw/monet/photo_jpg"
    b: str = "data/raw/monet/monet_jpg"
    image_size: int = 256  # shorter side resized to this, then centre-cropped
    max_images: int = 0  # per domain, the first N by file name; 0 = all
    test_fraction: float = 0.1  # share of A held out (seeded) for evaluate_cyclegan
    small_images: SmallImages = SmallImages.upscale
    seed: int = 0


@dataclass
class CycleGanConfig:
    """Training as in the reference code (Zhu et al.); steps instead of epochs."""

    steps: int = 60000
    batch_size: int = 1
    width_g: int = 64
    width_d: int = 64
    n_blocks: int = 0  # 0 = 9 at 256 px, 6 below
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5  # times lambda_cycle
    pool_size: int = 50
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    decay_start: float = 0.5  # share of steps at constant lr; then linear decay to 0
    load_scale: float = 1.1171875  # random crops from images resized by this (286/256)
    flip: bool = True
    log_every: int = 10
    checkpoint_every: int = 200
    snapshot_every: int = 1000
    seed: int = 0
    device: Device = Device.auto
    amp: bool = True  # bf16 autocast on CUDA; ignored on the CPU
    cuda_graph: bool = False  # CUDA: the whole step as one CUDA graph (launch-bound at batch 1)
    eval_batch_size: int = 16


@dataclass
class ExportConfig:
    """reports/cyclegan/submission.zip: every A image translated, as Kaggle's Monet task takes it."""

    image_size: int = 256
    min_images: int = 7000
    max_images: int = 10000
    allow_fewer: bool = False
    quality: int = 95


@dataclass
class LadderConfig:
    """The calibration ladder (stage metric_ladder): which rungs it scores. Each rung costs
    as much as one evaluation (n_samples images through the backbone)."""

    rungs: LadderRungs = LadderRungs.full


@dataclass
class Config:
    profile: str = "cpu"
    families: list[str] = field(default_factory=lambda: ["dcgan3"])
    data: DataConfig = field(default_factory=DataConfig)
    featurenet: FeaturenetConfig = field(default_factory=FeaturenetConfig)
    cifar_net: CifarNetConfig = field(default_factory=CifarNetConfig)
    outliers: OutliersConfig = field(default_factory=OutliersConfig)
    extra: ExtraConfig = field(default_factory=ExtraConfig)
    oversample: OversampleConfig = field(default_factory=OversampleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    models: dict[str, ModelConfig] = field(default_factory=dict)
    eval: EvalConfig = field(default_factory=EvalConfig)
    ladder: LadderConfig = field(default_factory=LadderConfig)
    style: StyleConfig = field(default_factory=StyleConfig)
    domains: DomainsConfig = field(default_factory=DomainsConfig)
    cyclegan: CycleGanConfig = field(default_factory=CycleGanConfig)
    export: ExportConfig = field(default_factory=ExportConfig)


def register_schema() -> None:
    """Register the schema with Hydra's ConfigStore under SCHEMA_NAME."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name=SCHEMA_NAME, node=Config)


def validate(raw: dict | DictConfig, source: str = "params.yaml") -> Config:
    """Merge raw values onto the schema; a wrong type, value or key raises UserError."""
    try:
        merged = OmegaConf.merge(OmegaConf.structured(Config), raw)
        cfg: Config = OmegaConf.to_object(merged)  # type: ignore[assignment]
    except OmegaConfBaseException as err:
        # OmegaConf's message is several lines; the first names the key and the value.
        first = str(err).strip().splitlines()[0]
        key = getattr(err, "full_key", None)
        raise UserError(f"{source}: invalid config{f' at {key}' if key else ''}: {first}") from None
    _check_values(cfg, source)
    return cfg


def _check_values(cfg: Config, source: str) -> None:
    def need(ok: bool, key: str, value: Any, why: str) -> None:
        if not ok:
            raise UserError(f"{source}: {key}={value!r} is invalid: {why}")

    from stages.models.registry import ARCHITECTURES

    need(len(cfg.families) > 0, "families", cfg.families, "list at least one family")
    for family in cfg.families:
        need(
            family in cfg.models,
            "families",
            family,
            f"no models.{family} section (known: {', '.join(sorted(cfg.models)) or 'none'})",
        )
    for name, model in cfg.models.items():
        need(
            model.arch in ARCHITECTURES,
            f"models.{name}.arch",
            model.arch,
            f"known architectures: {', '.join(sorted(ARCHITECTURES))}",
        )
        need(model.latent_dim > 0, f"models.{name}.latent_dim", model.latent_dim, "must be > 0")
        need(model.d_steps >= 1, f"models.{name}.d_steps", model.d_steps, "must be >= 1")
        need(model.steps is None or model.steps > 0, f"models.{name}.steps", model.steps, "must be > 0")
        need(
            model.width == 0 or (model.width > 0 and ARCHITECTURES[model.arch].has_width),
            f"models.{name}.width",
            model.width,
            f"{model.arch} has a fixed width (use 0)" if model.width > 0 else "must be >= 0",
        )
        for key in ("lr_g", "lr_d"):
            value = getattr(model, key)
            need(value is None or value > 0, f"models.{name}.{key}", value, "must be > 0 (or null)")
        for key in ("beta1", "beta2"):
            value = getattr(model, key)
            need(value is None or 0 <= value < 1, f"models.{name}.{key}", value, "in [0, 1) (or null)")
        need(model.clip >= 0, f"models.{name}.clip", model.clip, "must be >= 0 (0 = no clipping)")
        need(model.gp_weight > 0, f"models.{name}.gp_weight", model.gp_weight, "must be > 0")
        need(0 <= model.ema_decay < 1, f"models.{name}.ema_decay", model.ema_decay, "in [0, 1) (0 = off)")
    t = cfg.train
    need(t.steps > 0, "train.steps", t.steps, "must be > 0")
    need(t.budget_images >= 0, "train.budget_images", t.budget_images, "must be >= 0 (0 = train.steps)")
    need(t.collapse_steps >= 0, "train.collapse_steps", t.collapse_steps, "must be >= 0 (0 = off)")
    need(t.batch_size > 0, "train.batch_size", t.batch_size, "must be > 0")
    need(t.nproc_per_node >= 1, "train.nproc_per_node", t.nproc_per_node, "must be >= 1")
    need(
        t.batch_size % t.nproc_per_node == 0,
        "train.batch_size",
        t.batch_size,
        f"must split evenly across train.nproc_per_node={t.nproc_per_node} processes",
    )
    need(t.lr_g > 0, "train.lr_g", t.lr_g, "must be > 0")
    need(t.lr_d > 0, "train.lr_d", t.lr_d, "must be > 0")
    need(0 <= t.beta1 < 1 and 0 <= t.beta2 < 1, "train.beta1/beta2", (t.beta1, t.beta2), "in [0, 1)")
    need(
        all(0 < m < 1 for m in t.lr_milestones) and t.lr_milestones == sorted(t.lr_milestones),
        "train.lr_milestones",
        t.lr_milestones,
        "increasing fractions of train.steps in (0, 1)",
    )
    need(0 < t.lr_gamma <= 1, "train.lr_gamma", t.lr_gamma, "must be in (0, 1]")
    need(0 < t.lr_end_factor <= 1, "train.lr_end_factor", t.lr_end_factor, "must be in (0, 1]")
    need(t.log_every > 0, "train.log_every", t.log_every, "must be > 0")
    need(t.checkpoint_every > 0, "train.checkpoint_every", t.checkpoint_every, "must be > 0")
    need(t.fid_every >= 0, "train.fid_every", t.fid_every, "must be >= 0 (0 = no FID curve)")
    need(t.fid_samples >= 2, "train.fid_samples", t.fid_samples, "must be >= 2")
    policies = {"train.diffaugment": t.diffaugment}
    policies |= {f"models.{n}.diffaugment": m.diffaugment for n, m in cfg.models.items() if m.diffaugment}
    for key, policy in policies.items():
        ops = [op.strip() for op in policy.split(",") if op.strip()]
        need(
            all(op in DIFFAUGMENT_OPS for op in ops),
            key,
            policy,
            f"comma-separated ops from {', '.join(DIFFAUGMENT_OPS)} (or empty)",
        )
    need(0 <= t.cutmix <= 1, "train.cutmix", t.cutmix, "a probability in [0, 1]")
    e = cfg.eval
    need(e.n_samples >= 2, "eval.n_samples", e.n_samples, "must be >= 2")
    need(
        e.kid_subset_size <= e.n_samples,
        "eval.kid_subset_size",
        e.kid_subset_size,
        f"must not exceed eval.n_samples ({e.n_samples})",
    )
    need(e.kid_subsets > 0, "eval.kid_subsets", e.kid_subsets, "must be > 0")
    need(e.n_reference >= 0, "eval.n_reference", e.n_reference, "must be >= 0 (0 = all)")
    need(e.sharpen >= 0, "eval.sharpen", e.sharpen, "must be >= 0 (0 = off)")
    need(e.sharpen_sigma > 0, "eval.sharpen_sigma", e.sharpen_sigma, "must be > 0")
    o = cfg.outliers
    need(0 <= o.fraction < 1, "outliers.fraction", o.fraction, "a share in [0, 1) (0 = off)")
    need(o.epochs > 0, "outliers.epochs", o.epochs, "must be > 0")
    need(o.batch_size > 0, "outliers.batch_size", o.batch_size, "must be > 0")
    need(o.lr > 0, "outliers.lr", o.lr, "must be > 0")
    need(o.width > 0, "outliers.width", o.width, "must be > 0")
    need(cfg.oversample.target >= 0, "oversample.target", cfg.oversample.target, "must be >= 0 (0 = off)")
    x = cfg.extra
    need(not x.images or bool(x.label), "extra.label", x.label, "name the class of extra.images")
    need(cfg.data.image_size >= 8, "data.image_size", cfg.data.image_size, "must be >= 8")
    if cfg.data.kind == DataKind.folder:
        need(
            cfg.data.image_size in FOLDER_SIZES,
            "data.image_size",
            cfg.data.image_size,
            f"one of {FOLDER_SIZES}",
        )
        need(
            0 < cfg.data.test_fraction < 1, "data.test_fraction", cfg.data.test_fraction, "must be in (0, 1)"
        )
    _check_style(cfg.style, need)
    _check_cyclegan(cfg, need)
    f = cfg.featurenet
    need(f.epochs > 0, "featurenet.epochs", f.epochs, "must be > 0")
    need(len(f.convs) == 4 and min(f.convs) >= 1, "featurenet.convs", f.convs, "4 counts, each >= 1")
    need(0 <= f.min_accuracy <= 1, "featurenet.min_accuracy", f.min_accuracy, "in [0, 1]")


def _check_style(s: StyleConfig, need) -> None:  # noqa: ANN001
    need(s.image_size >= 16, "style.image_size", s.image_size, "must be >= 16")
    need(s.iterations > 0, "style.iterations", s.iterations, "must be > 0")
    need(s.lr > 0, "style.lr", s.lr, "must be > 0")
    need(
        len(s.grid_iterations) > 0 and all(n > 0 for n in s.grid_iterations),
        "style.grid_iterations",
        s.grid_iterations,
        "one or more counts, each > 0",
    )
    for name, values in [("style", s), *((f"style.param_sets.{k}", v) for k, v in s.param_sets.items())]:
        for key in ("content_weight", "style_weight"):
            value = getattr(values, key)
            need(value is None or value > 0, f"{name}.{key}", value, "must be > 0")
        need(values.tv_weight is None or values.tv_weight >= 0, f"{name}.tv_weight", values.tv_weight, ">= 0")
        weights = values.style_layer_weights
        need(not weights or min(weights) > 0, f"{name}.style_layer_weights", weights, "each must be > 0")


def _check_cyclegan(cfg: Config, need) -> None:  # noqa: ANN001
    d, c, x = cfg.domains, cfg.cyclegan, cfg.export
    need(
        d.image_size >= 32 and d.image_size % 4 == 0,
        "domains.image_size",
        d.image_size,
        "a multiple of 4, >= 32 (the PatchGAN)",
    )
    need(d.max_images >= 0, "domains.max_images", d.max_images, "must be >= 0 (0 = all)")
    need(0 < d.test_fraction < 1, "domains.test_fraction", d.test_fraction, "a share in (0, 1)")
    for key in (
        "steps",
        "batch_size",
        "width_g",
        "width_d",
        "log_every",
        "checkpoint_every",
        "snapshot_every",
    ):
        need(getattr(c, key) > 0, f"cyclegan.{key}", getattr(c, key), "must be > 0")
    need(c.eval_batch_size > 0, "cyclegan.eval_batch_size", c.eval_batch_size, "must be > 0")
    need(c.n_blocks >= 0, "cyclegan.n_blocks", c.n_blocks, "must be >= 0 (0 = by image size)")
    need(c.lambda_cycle >= 0, "cyclegan.lambda_cycle", c.lambda_cycle, "must be >= 0")
    need(c.lambda_identity >= 0, "cyclegan.lambda_identity", c.lambda_identity, "must be >= 0")
    need(c.pool_size >= 0, "cyclegan.pool_size", c.pool_size, "must be >= 0 (0 = no pool)")
    need(c.lr > 0, "cyclegan.lr", c.lr, "must be > 0")
    need(0 <= c.beta1 < 1 and 0 <= c.beta2 < 1, "cyclegan.beta1/beta2", (c.beta1, c.beta2), "in [0, 1)")
    need(0 <= c.decay_start <= 1, "cyclegan.decay_start", c.decay_start, "a share of steps in [0, 1]")
    need(c.load_scale >= 1, "cyclegan.load_scale", c.load_scale, "must be >= 1 (1 = no random crop)")
    need(x.image_size >= 16, "export.image_size", x.image_size, "must be >= 16")
    need(0 < x.min_images <= x.max_images, "export.min_images", x.min_images, "in (0, export.max_images]")
    need(1 <= x.quality <= 100, "export.quality", x.quality, "a JPEG quality in [1, 100]")


def load_params(path: str | Path = "params.yaml") -> Config:
    """Read and validate params.yaml (the file DVC composed from conf/)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: not found; run `dvc exp run` once to compose it from conf/")
    try:
        raw = OmegaConf.load(path)
    except Exception as err:  # yaml errors carry several lines
        raise UserError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from None
    return validate(raw, str(path))


def compose(overrides: list[str] | None = None, config_dir: str | Path = "conf") -> dict:
    """Compose conf/ exactly as `dvc exp run` does, returning plain resolved values."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    register_schema()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(Path(config_dir).resolve()), version_base=None):
            cfg = hydra_compose(config_name="config", overrides=overrides or [])
    except HydraException as err:
        raise UserError(_composition_error(err)) from None
    OmegaConf.resolve(cfg)
    return OmegaConf.to_container(cfg, enum_to_str=True)  # type: ignore[return-value]


def _composition_error(err: BaseException) -> str:
    """Hydra's composition error in one line: its first line, its cause's first line (where
    a bad value is named), the options of a missing config group, and how to write a value
    with commas (Hydra would read it as a sweep)."""
    lines = str(err).splitlines()
    parts = lines[:1]
    if err.__cause__ is not None:
        parts += str(err.__cause__).splitlines()[:1]
    for i, line in enumerate(lines):
        if line.startswith("Available options"):  # then one tab-indented line per option
            options = takewhile(lambda option: option.startswith("\t"), lines[i + 1 :])
            parts.append("options: " + ", ".join(option.strip() for option in options))
    parts += [line.split(". ", 1)[1] for line in lines if "To use it as" in line]
    return "; ".join(part.strip().rstrip(".") for part in parts if part.strip())


def to_plain(obj: Any) -> Any:
    """Dataclasses and enums to JSON-ready values (for fingerprints and metrics files)."""
    return OmegaConf.to_container(OmegaConf.structured(obj), enum_to_str=True)


def fingerprint(*parts: Any) -> str:
    """A stable sha256 of JSON-able parts: same values, same hash, on any machine."""
    blob = json.dumps(
        [to_plain(p) if hasattr(p, "__dataclass_fields__") else p for p in parts],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def dump_yaml(values: dict) -> str:
    """YAML as DVC writes params.yaml (OmegaConf.to_yaml), so the bytes match `dvc exp run`."""
    return OmegaConf.to_yaml(OmegaConf.create(values))
