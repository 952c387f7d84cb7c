"""Issue 7's fast paths: they must compute what the plain path computes.

The speed itself is measured by `make bench` (stages.bench), never by a test."""

from __future__ import annotations

import copy
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from stages.core import device as device_module
from stages.core.device import arithmetic, autocast_for, claim_gpu
from stages.core.errors import UserError
from stages.core.schema import Amp, Config, LrSchedule, compose, validate
from stages.data.dataset import BatchSampler, ImageSet
from stages.gan.loop import Interrupted, learning_rates, train_gan
from stages.models.layers import UpsampleConv2d, fuse_upsample_convs
from stages.models.registry import ARCHITECTURES, build_gan, count_parameters
from tests.conftest import script_module

REPO = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")


@pytest.mark.parametrize(
    "arch", ["dcgan1", "dcgan3", "dcgan5", "wgan1", "sngan", "sngan_projection", "cgan_test"]
)
def test_fused_upsample_convs_compute_the_plain_layers(arch: str) -> None:
    torch.manual_seed(0)
    plain, _ = build_gan(arch, 128, 32, fast_layers=False)
    fused = copy.deepcopy(plain)
    assert fuse_upsample_convs(fused) > 0
    assert any(isinstance(m, UpsampleConv2d) for m in fused.modules())
    assert list(fused.state_dict()) == list(plain.state_dict())  # checkpoints load either way
    z, labels = torch.randn(6, 128), torch.arange(6) % 10
    with torch.no_grad():
        assert torch.allclose(fused.eval()(z, labels), plain.eval()(z, labels), atol=1e-5)


def test_a_fused_layer_has_the_gradients_of_the_plain_pair() -> None:
    torch.manual_seed(1)
    plain = torch.nn.Sequential(torch.nn.Upsample(scale_factor=2), torch.nn.Conv2d(5, 4, 3, padding=1))
    fused = copy.deepcopy(plain)
    fuse_upsample_convs(fused)
    x = torch.randn(3, 5, 6, 7)
    for net in (plain, fused):
        net(x).square().sum().backward()
    assert torch.allclose(fused[1].weight.grad, plain[1].weight.grad, rtol=1e-4, atol=1e-4)
    assert torch.allclose(fused[1].bias.grad, plain[1].bias.grad, rtol=1e-4, atol=1e-4)


def test_a_strided_or_spectral_conv_after_upsampling_is_left_alone() -> None:
    from torch.nn.utils.parametrizations import spectral_norm

    strided = torch.nn.Sequential(torch.nn.Upsample(scale_factor=2), torch.nn.Conv2d(3, 3, 3, 2, 1))
    spectral = torch.nn.Sequential(
        torch.nn.Upsample(scale_factor=2), spectral_norm(torch.nn.Conv2d(3, 3, 3, 1, 1))
    )
    bilinear = torch.nn.Sequential(
        torch.nn.Upsample(scale_factor=2, mode="bilinear"), torch.nn.Conv2d(3, 3, 3, 1, 1)
    )
    assert [fuse_upsample_convs(m) for m in (strided, spectral, bilinear)] == [0, 0, 0]


def test_the_device_resident_sampler_splits_each_global_batch_across_ranks() -> None:
    data = ImageSet(torch.zeros(40, 3, 2, 2, dtype=torch.uint8), torch.arange(40), ["x"])
    whole = BatchSampler(data, batch_size=8, seed=5)
    ranks = [BatchSampler(data, batch_size=8, seed=5, rank=r, world=2) for r in range(2)]
    for _ in range(12):  # past an epoch boundary
        expected = whole.next_index()
        halves = [sampler.next_index() for sampler in ranks]
        assert [len(h) for h in halves] == [4, 4]
        assert torch.equal(torch.cat(halves), expected)
    assert whole.epoch == ranks[0].epoch == 2


@pytest.mark.filterwarnings("ignore:CUDA is not available")
@pytest.mark.parametrize("native", [False, True])
def test_train_amp_chooses_bf16_autocast_by_device(monkeypatch: pytest.MonkeyPatch, native: bool) -> None:
    monkeypatch.setattr(device_module, "bf16_native", lambda device: native)
    cuda = torch.device("cuda")
    for device, amp, expected in [
        (CPU, Amp.cuda, False),  # the default: CPU numbers do not depend on the CPU's bf16
        (CPU, Amp.off, False),
        (CPU, Amp.auto, native),  # only where bf16 is native: emulated bf16 is slower
        (cuda, Amp.cuda, True),
        (cuda, Amp.off, False),
    ]:
        context = autocast_for(device, amp)
        assert isinstance(context, torch.autocast) == expected, (device, amp)
        assert arithmetic(device, amp) == ("bf16 autocast" if expected else "fp32")
        if expected:
            assert context.fast_dtype == torch.bfloat16 and context.device == device.type


@pytest.mark.parametrize("family", ["dcgan3", "wgan_gp"])  # BN; the penalty's double backward
def test_the_loop_trains_under_cpu_bf16_autocast(
    monkeypatch: pytest.MonkeyPatch, base_config: Config, tiny_shapes: ImageSet, family: str
) -> None:
    monkeypatch.setattr(device_module, "bf16_native", lambda device: True)
    train = dataclasses.replace(base_config.train, steps=6, batch_size=16, log_every=2)
    runs = {
        amp: train_gan(
            dataclasses.replace(train, amp=amp), base_config.models[family], tiny_shapes, CPU, progress=False
        )
        for amp in (Amp.off, Amp.auto)
    }
    assert runs[Amp.auto].failure == "" and torch.isfinite(runs[Amp.auto].history).all()
    # the weights stay float32 (autocast casts per op) and the arithmetic did change
    assert all(p.dtype == torch.float32 for p in runs[Amp.auto].generator.parameters())
    assert not torch.equal(runs[Amp.auto].history, runs[Amp.off].history)


@pytest.mark.parametrize("family", ["dcgan3", "cgan1"])
def test_the_fast_paths_give_the_losses_of_the_plain_path(
    base_config: Config, tiny_shapes: ImageSet, family: str
) -> None:
    runs = {}
    for fast in (False, True):
        train = dataclasses.replace(
            base_config.train, steps=5, batch_size=16, fast_paths=fast, channels_last=fast, compile=False
        )
        runs[fast] = train_gan(train, base_config.models[family], tiny_shapes, CPU, progress=False)
    plain, fast = runs[False].history[:, 1:3], runs[True].history[:, 1:3]
    assert torch.isfinite(fast).all()
    # the first step sees the same weights: equal up to rounding, which batch norm over the
    # tiny activations of CGAN 1's RandomNormal(0.02) convs magnifies to ~1e-4 of the loss
    assert torch.allclose(fast[0], plain[0], rtol=1e-3, atol=1e-5), (fast[0], plain[0])
    # later ones drift a little: Adam's first updates are ~lr * sign(gradient), so a rounding
    # difference in a near-zero gradient moves that weight by a whole lr (CGAN 1: 1.3 % by
    # step 5 on a 2-core AMD EPYC)
    assert torch.allclose(fast, plain, rtol=3e-2), (fast, plain)


def test_cuda_graph_falls_back_to_the_eager_step_off_cuda_and_refuses_compile(
    base_config: Config, tiny_shapes: ImageSet, caplog: pytest.LogCaptureFixture
) -> None:
    model = base_config.models["dcgan3"]
    plain = dataclasses.replace(base_config.train, steps=3, batch_size=16)
    graphed = dataclasses.replace(plain, cuda_graph=True)
    with caplog.at_level("INFO"):
        runs = [train_gan(t, model, tiny_shapes, CPU, progress=False) for t in (plain, graphed)]
    assert "train.cuda_graph: running eagerly, the device is not CUDA" in caplog.text
    assert torch.equal(runs[0].history, runs[1].history)
    with pytest.raises(UserError, match=r"train\.cuda_graph=true and train\.compile=true"):
        train_gan(dataclasses.replace(graphed, compile=True), model, tiny_shapes, CPU, progress=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
@pytest.mark.parametrize("family", ["dcgan3", "cgan1", "wgan_gp"])  # BN and labels; GP's double backward
def test_the_cuda_graph_step_gives_the_losses_and_lr_of_the_eager_step_and_resumes(
    base_config: Config, tiny_shapes: ImageSet, family: str, tmp_path: Path
) -> None:
    cuda, model = torch.device("cuda"), base_config.models[family]
    eager, straight = (
        dataclasses.replace(
            base_config.train,
            steps=12,
            batch_size=16,
            amp=Amp.off,
            cuda_graph=graphed,
            lr_schedule=LrSchedule.cosine,
        )
        for graphed in (False, True)
    )
    runs = [train_gan(t, model, tiny_shapes, cuda, progress=False) for t in (eager, straight)]
    with pytest.raises(Interrupted):  # after the capture (step 3): the resumed run captures again
        train_gan(straight, model, tiny_shapes, cuda, tmp_path / "ckpt.pt", "fp", stop_at=6, progress=False)
    runs.append(train_gan(straight, model, tiny_shapes, cuda, tmp_path / "ckpt.pt", "fp", progress=False))
    histories = [r.history for r in runs]
    for history in histories[1:]:
        assert torch.equal(history[:, [0, 3, 4]], histories[0][:, [0, 3, 4]])  # steps and the lr schedule
        assert torch.isfinite(history).all()
        # steps 0-2 are the eager warm-up, 3 the capture, then replays: all must track eager
        assert torch.allclose(history[:, 1:3], histories[0][:, 1:3], rtol=2e-2, atol=2e-3)
    # Adam moves a weight by about lr per step (up to ~2 lr early on) whatever its gradient's
    # size, so rounding-level differences can move one weight by a few lr per step
    bound = 4 * eager.steps * learning_rates(eager, model)[0]
    for run in runs[1:]:
        for name, weight in runs[0].generator.named_parameters():
            assert (weight - run.generator.get_parameter(name)).abs().max() <= bound, name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
@pytest.mark.parametrize("family", ["dcgan3", "cgan1"])  # no dropout or penalty draws: exact
def test_replaying_the_captured_step_computes_what_running_it_eagerly_does(
    base_config: Config, tiny_shapes: ImageSet, family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stale input or a value baked into the graph at capture would show here as a
    difference: with deterministic cuDNN, replays and eager steps run the same kernels."""
    from stages.gan import loop as training

    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    cuda, model = torch.device("cuda"), base_config.models[family]
    train = dataclasses.replace(
        base_config.train, steps=10, batch_size=16, cuda_graph=True, lr_schedule=LrSchedule.cosine
    )
    replayed = train_gan(train, model, tiny_shapes, cuda, progress=False)
    monkeypatch.setattr(training, "GRAPH_WARMUP_STEPS", 10**6)  # same optimisers, never captured
    eager = train_gan(train, model, tiny_shapes, cuda, progress=False)
    assert torch.equal(replayed.history, eager.history)
    for name, weight in eager.generator.state_dict().items():
        assert torch.equal(weight, replayed.generator.state_dict()[name]), name


@pytest.mark.parametrize("family", ["dcgan3", "cgan1"])  # cgan1: batch norm and labels
def test_two_gloo_ranks_end_with_identical_weights_and_resume_exactly(tmp_path: Path, family: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(REPO / "tests/ddp_worker.py"),
        str(tmp_path),
        family,
    ]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for key, weight in rank0["straight"].items():
        assert torch.equal(weight, rank1["straight"][key]), key  # DDP kept the ranks in step
        assert torch.equal(weight, rank0["resumed"][key]), key  # resume under DDP is exact
    assert torch.isfinite(rank0["history"]).all()
    assert torch.equal(rank0["history"], rank1["history"])  # losses averaged over ranks
    # each rank saw other images and noise: the averaged losses are not rank 0's alone
    assert rank0["history"][:, 1].std() > 0


def test_queue_workers_claim_different_gpus(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert [claim_gpu(2, tmp_path), claim_gpu(2, tmp_path)] == [0, 1]
    assert claim_gpu(2, tmp_path) == 0  # all held: share the first, with a warning
    assert "all 2 GPUs are claimed" in caplog.text


def test_radford_dcgan_has_the_reference_size_and_shapes() -> None:
    generator, discriminator = build_gan("dcgan_radford64", 100, 64)
    # pytorch/examples' DCGAN (nz 100, ngf = ndf = 64): 3,576,704 and 2,765,568 parameters
    assert (count_parameters(generator), count_parameters(discriminator)) == (3576704, 2765568)
    images = generator(torch.randn(2, 100))
    assert images.shape == (2, 3, 64, 64) and discriminator(images).shape == (2,)
    assert ARCHITECTURES["dcgan_radford64"].image_size == 64
    with pytest.raises(ValueError, match="data.image_size=64"):
        build_gan("dcgan_radford64", 100, 32)


@pytest.mark.parametrize(
    ("override", "key"),
    [("train.nproc_per_node=0", "train.nproc_per_node"), ("train.nproc_per_node=3", "train.batch_size")],
)
def test_a_bad_process_count_fails_before_training(override: str, key: str) -> None:
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        with pytest.raises(UserError, match=key):
            validate(compose(["data=shapes", "profile=smoke", "train.batch_size=32", override]))
    finally:
        os.chdir(cwd)


def test_the_bench_times_its_own_steps_whatever_budget_the_profile_gives_a_family() -> None:
    """The CPU profile gives SNGAN 2,000 steps of its own and the table profile an image
    budget: the bench must still time its 20 steps, not train for minutes before them."""
    from stages.bench import drop_training_budgets
    from stages.gan.loop import training_steps

    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        cfg = validate(compose(["profile=table", "models.sngan.steps=2000"]))
    finally:
        os.chdir(cwd)
    assert training_steps(dataclasses.replace(cfg.train, budget_images=0), cfg.models["sngan"]) == 2000
    drop_training_budgets(cfg)
    for name, model in cfg.models.items():
        assert training_steps(dataclasses.replace(cfg.train, steps=20), model) == 20, name


def test_bench_prints_one_json_line_with_every_figure(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "stages.bench",
        "--steps=2",
        "--batch-size=16",
        "--families",
        "dcgan3",
        "--reference",
        "dcgan3",
        "--eval-images=200",
        "--backbones",
        "featurenet",
        "--style-size=-1",
        "--profile",
        "--cyclegan-size=32",
        "--cyclegan-batch-sizes",
        "1",
        "2",
        "--cyclegan-steps=4",
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["train"]["dcgan3"]["train_images_per_second"] > 0
    assert figures["train"]["dcgan3"]["gflop_per_step"] > 0
    assert figures["reference_loop_images_per_second"]["dcgan3"] > 0
    # the hand-written loop scores D's weights in G's update too: more FLOPs than ours
    assert figures["reference_loop_gflop_per_step"]["dcgan3"] > figures["train"]["dcgan3"]["gflop_per_step"]
    assert figures["eval"]["featurenet"]["images"] == 200
    assert "where a dcgan3 step goes" in done.stdout
    # the CycleGAN loop at each batch size; eager only off CUDA
    assert [(r["batch_size"], r["cuda_graph"]) for r in figures["cyclegan"]] == [(1, False), (2, False)]
    assert all(r["train_images_per_second"] > 0 for r in figures["cyclegan"])
    assert "aten::convolution_backward" in done.stdout  # the profile names the operators
    assert (
        figures["eval"]["featurenet"]["seconds_features"] <= figures["eval"]["featurenet"]["seconds_fid_kid"]
    )


def test_the_bench_times_inception_with_random_weights_where_the_file_is_absent() -> None:
    from stages.bench import random_inception

    backbone = random_inception()
    with torch.inference_mode():
        features = backbone(torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8))
    assert features.shape == (2, 2048)
    assert torch.isfinite(features).all()
    assert "timing only" in backbone.info.name


PEER_STAND_IN = """
import argparse, sys, time
parser = argparse.ArgumentParser()
for flag in ("--dataset", "--batchSize", "--imageSize", "--niter", "--workers", "--outf", "--manualSeed"):
    parser.add_argument(flag)
args = parser.parse_args()
if (args.dataset, args.imageSize, args.workers) != ("fake", "64", "0"):
    sys.exit("not run as its README says")
if args.batchSize == "13":
    sys.exit("RuntimeError: out of memory")
time.sleep(1.0 + 0.3 * int(args.niter))  # a start-up, then 1,000 images per epoch
"""


def test_the_bench_runs_the_peer_script_as_its_readme_says_and_times_two_epochs(tmp_path: Path) -> None:
    from stages.bench import peer_dcgan

    peer = tmp_path / "main.py"
    peer.write_text(PEER_STAND_IN)
    timed = peer_dcgan(peer, 64, CPU)
    # two epochs more (1 -> 3) take 0.6 s more: 2,000 images / 0.6 s = 3,333, the start-up
    # cancelling (3,000 images over the 3-epoch run's 1.9 s would read 1,579); the bounds
    # leave room for the interpreter's own start-up to vary between the two runs
    assert 2500 < timed["images_per_second"] < 5000
    assert timed["epochs_timed"] == [1, 3] and timed["batch_size"] == 64
    with pytest.raises(UserError, match=r"--peer .*main.py: exited with 1: RuntimeError: out of memory"):
        peer_dcgan(peer, 13, CPU)
    with pytest.raises(UserError, match=r"--peer .*absent.py: no such file"):
        peer_dcgan(tmp_path / "absent.py", 64, CPU)
    # as `make bench PEER=../peers/main.py` passes it: relative to where the bench was started
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert peer_dcgan(Path("main.py"), 64, CPU)["images_per_second"] > 2000
    finally:
        os.chdir(cwd)


def test_the_winograd_probe_computes_the_strided_convolution_and_its_gradients() -> None:
    """scripts/probe_winograd_conv.py, whose timings docs/speed.md quotes, times the same function."""
    probe = script_module("probe_winograd_conv")
    torch.manual_seed(0)
    x = torch.randn(2, 5, 8, 12, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(7, 5, 4, 4, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(2, 7, 4, 6, dtype=torch.float64)
    grads = []
    for conv in (probe.direct_conv4_stride2, probe.winograd_conv4_stride2):
        y = conv(x, weight)
        grads.append((y, *torch.autograd.grad(y, (x, weight), upstream)))
    for direct, winograd in zip(*grads, strict=True):
        torch.testing.assert_close(winograd, direct)
