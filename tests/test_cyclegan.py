"""CycleGAN: networks, pool, losses, MiFID, resume, export, and the four stages end to end."""

from __future__ import annotations

import dataclasses
import io
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

from stages.core.errors import UserError
from stages.core.schema import CycleGanConfig, ExportConfig
from stages.cyclegan import loop as translation
from stages.export import check_count, write_submission
from stages.metrics.fid import fid, memorization_distance, mifid
from stages.models.cyclegan import ImagePool, PatchDiscriminator, ResnetGenerator, default_blocks
from tests.test_stages import error_lines, run_stage, tree_hashes, write_params


@pytest.mark.parametrize("size", [64, 256])
def test_generator_and_patch_discriminator_shapes(size: int) -> None:
    blocks = default_blocks(size)
    assert blocks == (9 if size == 256 else 6)
    generator = ResnetGenerator(blocks, width=8)
    images = torch.rand(2, 3, size, size) * 2 - 1
    out = generator(images)
    assert out.shape == images.shape
    assert out.min() >= -1 and out.max() <= 1
    scores = PatchDiscriminator(width=8)(images)
    assert scores.shape == (2, 1, size // 8 - 2, size // 8 - 2)  # 30x30 patches at 256


def test_reference_widths_give_the_reference_parameter_counts() -> None:
    # the reference code prints 11.378 M for its 9-block generator, 2.765 M for the PatchGAN
    assert round(sum(p.numel() for p in ResnetGenerator(9, 64).parameters()) / 1e6, 3) == 11.378
    assert round(sum(p.numel() for p in PatchDiscriminator(64).parameters()) / 1e6, 3) == 2.765


def test_image_pool_returns_inputs_until_full_then_old_images_half_the_time() -> None:
    pool = ImagePool(size=10, seed=0)
    first = torch.arange(10.0).reshape(10, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: every image comes straight back
    new = torch.arange(100.0, 2100.0).reshape(-1, 1, 1, 1)
    returned = pool.query(new)
    from_history = (returned != new).sum().item()
    assert 0.45 < from_history / len(new) < 0.55  # probability 0.5, 2,000 draws
    # each answer is the new image itself or one that came before it
    pairs = zip(returned.flatten().tolist(), new.flatten().tolist(), strict=True)
    assert all(v == w or v < 10 or 100 <= v < w for v, w in pairs)


class NoHostSync(TorchDispatchMode):
    """Fails on the operators that make the host wait for a device's result (a tensor read
    as a Python number, an output whose size depends on the data): what a CUDA graph
    cannot hold. Runs on the CPU, where the same operators are dispatched."""

    SYNCING = {"aten::_local_scalar_dense", "aten::nonzero", "aten::masked_select", "aten::unique"}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        if func._schema.name in self.SYNCING:
            raise AssertionError(f"host sync inside the step: {func._schema.name}")
        return func(*args, **(kwargs or {}))


def test_the_pool_exchange_holds_no_host_sync_and_matches_query() -> None:
    """cyclegan.cuda_graph puts ImagePool.exchange inside the graph: it may not read a
    device value on the host. Its plan drawn outside, it gives what query gives."""
    graphed, plain = ImagePool(size=3, seed=5), ImagePool(size=3, seed=5)
    generator = torch.Generator().manual_seed(0)
    for _ in range(6):  # filling, then swaps, with batches of 2
        images = torch.randn(2, 3, 4, 4, generator=generator)
        slots, swaps = graphed.plan(len(images))
        with NoHostSync():
            out = graphed.exchange(images, slots, swaps)
        assert torch.equal(out, plain.query(images))
    with pytest.raises(AssertionError, match="host sync"), NoHostSync():
        torch.ones(1).item()  # the guard itself catches a read


def test_the_whole_step_holds_no_host_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What cyclegan.cuda_graph records (both G and both D updates, the pools' exchange)
    reads no device value on the host, checked on the CPU: the loop is made to take its
    graphed path with a stand-in for the graph that runs the step under NoHostSync. The
    optimisers' step is left out: on CUDA they are capturable, here they read their step
    count on the host."""
    from torch.utils._python_dispatch import _disable_current_modes

    class HostAdam(torch.optim.Adam):
        def step(self, closure=None):  # noqa: ANN001, ANN201
            with _disable_current_modes():
                return super().step(closure)

    steps_checked = []

    class CheckedStep:
        def __init__(self, step, warmup: int, setting: str) -> None:  # noqa: ANN001
            self.step = step

        def __call__(self, inputs: list) -> Tensor:
            with NoHostSync():
                out = self.step(inputs)
            steps_checked.append(len(steps_checked))
            return out

    monkeypatch.setattr(translation, "use_cuda_graph", lambda cfg, device: True)
    monkeypatch.setattr(translation, "GraphedStep", CheckedStep)
    monkeypatch.setattr(
        translation,
        "make_adam",
        lambda params, lr, betas, device, graphed: HostAdam(params, lr=lr, betas=betas),
    )
    cfg, args = _tiny_run(steps=5)  # pool 3 at batch 1: filling, then swaps
    run = translation.train_cyclegan(*args, tmp_path / "c.pt", "f", None, progress=False)
    assert run.steps == 5 and len(steps_checked) == 5


def test_no_pool_hands_d_the_new_fakes_detached(tmp_path: Path) -> None:
    """cyclegan.pool_size=0 (no history): D's update must not backpropagate into the
    generators' graph, which their own update has already freed."""
    assert ImagePool(size=0).query(torch.ones(2, 3, 4, 4, requires_grad=True)).requires_grad is False
    cfg, args = _tiny_run(steps=2)
    run = translation.train_cyclegan(
        dataclasses.replace(cfg, pool_size=0), *args[1:], tmp_path / "c.pt", "f", None, progress=False
    )
    assert run.steps == 2


def test_image_pool_state_round_trips() -> None:
    pool = ImagePool(size=4, seed=3)
    pool.query(torch.randn(6, 3, 2, 2))
    copy = ImagePool(size=4, seed=99)
    copy.load_state_dict(pool.state_dict())
    batch = torch.randn(5, 3, 2, 2)
    assert torch.equal(pool.query(batch), copy.query(batch))


def test_cycle_and_identity_losses_vanish_for_identity_generators() -> None:
    real_a, real_b = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    same = nn.Identity()
    # fake_b = g_ab(real_a) = real_a and fake_a = g_ba(real_b) = real_b
    cycle, identity = translation.cycle_identity_losses(same, same, real_a, real_b, real_b, real_a, 10, 0.5)
    assert cycle.item() == 0 and identity.item() == 0
    flip = lambda x: x.flip(-1)  # noqa: E731
    cycle, identity = translation.cycle_identity_losses(
        flip, same, real_a, real_b, real_b, flip(real_a), 10, 0.5
    )
    assert cycle.item() > 0 and identity.item() > 0


def test_crop_and_flip_keeps_shape_and_range() -> None:
    images = torch.rand(4, 3, 32, 32) * 2 - 1
    out = translation.crop_and_flip(images, 286 / 256, True, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.min() >= -1 and out.max() <= 1
    unchanged = translation.crop_and_flip(images, 1.0, False, torch.Generator())
    assert torch.equal(unchanged, images)


def test_mifid_is_fid_above_eps_and_fid_over_distance_below() -> None:
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(200, 16, generator=generator, dtype=torch.float64)
    far = torch.randn(200, 16, generator=generator, dtype=torch.float64) + 3
    distance = memorization_distance(real, far)
    assert distance > 0.1
    fid_far = fid(real, far)
    assert mifid(fid_far, distance) == pytest.approx(fid_far)
    copies = real[:150] + 1e-3 * torch.randn(150, 16, generator=generator, dtype=torch.float64)
    close = memorization_distance(real, copies)
    assert 0 < close < 1e-3  # memorised: each copy sits next to its original
    fid_close = fid(real, copies)
    assert mifid(fid_close, close) == pytest.approx(fid_close / close)
    assert memorization_distance(real, -real) == pytest.approx(0, abs=1e-12)  # |cos|, as Kaggle


def test_export_writes_the_exact_count_of_valid_jpegs(tmp_path: Path) -> None:
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    names = [f"photo_{i}.png" for i in range(5)]
    cfg = ExportConfig(image_size=64, min_images=3, max_images=10)
    target = tmp_path / "submission.zip"
    write_submission(images, names, target, cfg)
    with zipfile.ZipFile(target) as archive:
        assert sorted(archive.namelist()) == [f"photo_{i}.jpg" for i in range(5)]
        for name in archive.namelist():
            with Image.open(io.BytesIO(archive.read(name))) as image:
                assert image.format == "JPEG" and image.size == (64, 64)
    first = target.read_bytes()
    write_submission(images, names, target, cfg)
    assert target.read_bytes() == first  # same images, same zip bytes


def test_export_count_rules() -> None:
    cfg = ExportConfig()
    check_count(7000, cfg, "photos")
    with pytest.raises(UserError, match="fewer than export.min_images=7000"):
        check_count(2000, cfg, "photos")
    check_count(2000, ExportConfig(allow_fewer=True), "photos")
    with pytest.raises(UserError, match="more than export.max_images"):
        check_count(10001, cfg, "photos")


def _tiny_run(steps: int) -> tuple[CycleGanConfig, tuple]:
    cfg = CycleGanConfig(
        steps=steps, width_g=4, width_d=4, n_blocks=1, checkpoint_every=3, log_every=2, pool_size=3
    )
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    b = 255 - a
    return cfg, (cfg, a, b, a[:2], torch.device("cpu"))


def sigint_at(step: int) -> type:
    """A stand-in for stop_on_sigint whose Ctrl-C comes during step `step` (1-based): the
    loop asks once per step."""

    class StopAtStep:
        calls = 0

        def is_set(self) -> bool:
            StopAtStep.calls += 1
            return StopAtStep.calls >= step

    class FakeSigint:
        def __enter__(self) -> StopAtStep:
            return StopAtStep()

        def __exit__(self, *exc: object) -> None:
            return None

    return FakeSigint


def interrupted_then_resumed(
    args: tuple, stop: int, checkpoint: Path, snapshots: Path | None, monkeypatch: pytest.MonkeyPatch
) -> translation.CycleGanRun:
    """A run stopped by Ctrl-C during step `stop`, then the same command again."""
    monkeypatch.setattr(translation, "stop_on_sigint", sigint_at(stop))
    with pytest.raises(KeyboardInterrupt):
        translation.train_cyclegan(*args, checkpoint, "f", snapshots, progress=False)
    assert torch.load(checkpoint, weights_only=True)["step"] == stop
    monkeypatch.setattr(translation, "stop_on_sigint", lambda: FakeSigintNever())
    return translation.train_cyclegan(*args, checkpoint, "f", snapshots, progress=False)


def assert_same_run(run: translation.CycleGanRun, other: translation.CycleGanRun) -> None:
    assert run.steps == other.steps
    assert run.rows == other.rows
    for name, weight in other.model.state_dict().items():
        assert torch.equal(weight, run.model.state_dict()[name]), name


def test_interrupted_training_resumes_to_identical_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, args = _tiny_run(steps=8)
    straight = translation.train_cyclegan(*args, tmp_path / "a.pt", "f", tmp_path / "snaps_a", progress=False)
    resumed = interrupted_then_resumed(args, 4, tmp_path / "b.pt", tmp_path / "snaps_b", monkeypatch)
    assert resumed.steps == 8
    assert_same_run(resumed, straight)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_graph_steps_match_the_eager_steps_and_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cyclegan.cuda_graph replays the eager step: the same losses and weights, bit for bit,
    through the pools' filling and swapping (pool 3, batch 2, 12 steps); a graphed run
    stopped at step 7 resumes (3 eager steps, a new capture) to the same end."""
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    cfg = CycleGanConfig(
        steps=12, batch_size=2, width_g=8, width_d=8, n_blocks=2, pool_size=3, log_every=2, cuda_graph=True
    )
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    args = (cfg, a, 255 - a, a[:2], torch.device("cuda"))
    replayed = translation.train_cyclegan(*args, tmp_path / "g.pt", "f", None, progress=False)
    assert_same_run(interrupted_then_resumed(args, 7, tmp_path / "r.pt", None, monkeypatch), replayed)
    monkeypatch.setattr(translation, "GRAPH_WARMUP_STEPS", 10**6)  # same optimisers, never captured
    eager = translation.train_cyclegan(*args, tmp_path / "e.pt", "f", None, progress=False)
    assert_same_run(eager, replayed)


def test_cuda_graph_is_ignored_off_cuda(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg, args = _tiny_run(steps=2)
    graphed = (dataclasses.replace(cfg, cuda_graph=True), *args[1:])
    with caplog.at_level("INFO", logger="cyclegan"):
        run = translation.train_cyclegan(*graphed, tmp_path / "c.pt", "f", None, progress=False)
    assert "cyclegan.cuda_graph: running eagerly, the device is not CUDA" in caplog.text
    assert_same_run(run, translation.train_cyclegan(*args, tmp_path / "p.pt", "f", None, progress=False))


class FakeSigintNever:
    def __enter__(self) -> threading.Event:
        return threading.Event()

    def __exit__(self, *exc: object) -> None:
        return None


def _domains(folder: Path, count: int = 6) -> None:
    rng = np.random.default_rng(1)
    for name in ("a", "b"):
        (folder / name).mkdir(parents=True)
    for i in range(count):
        image = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        Image.fromarray(image).save(folder / "a" / f"p{i}.png")
        Image.fromarray(255 - image).save(folder / "b" / f"m{i}.jpg")


SMOKE = ["profile=smoke", "data=shapes", "domains.a=domains/a", "domains.b=domains/b", "domains.name=t"]


@pytest.mark.slow
def test_cyclegan_stages_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = write_params(tmp_path, [*SMOKE, "cyclegan.steps=4", "export.min_images=2"], monkeypatch)
    _domains(work / "domains")
    assert run_stage(work, "prepare_domains").returncode == 0
    first = tree_hashes(work / "data/domains/t")
    assert run_stage(work, "prepare_domains").returncode == 0
    assert tree_hashes(work / "data/domains/t") == first  # same folders, same bytes
    assert np.load(work / "data/domains/t/a.npy").shape == (6, 32, 32, 3)
    # two folders of one's own: no GAN dataset (no prepare, no featurenet) is needed
    for stage in ("train_cyclegan", "evaluate_cyclegan", "export"):
        result = run_stage(work, stage)
        assert result.returncode == 0, result.stderr
    assert not (work / "data/prepared").exists() and not (work / "artifacts/featurenet").exists()
    import json

    metrics = json.loads((work / "reports/cyclegan/metrics.json").read_text())
    protocol = json.loads((work / "reports/cyclegan/protocol.json").read_text())["protocol"]
    assert protocol["n_generated"] == 2 and protocol["n_reference"] == 6
    assert all(isinstance(v, float | int) for v in metrics.values())  # numbers only: a DVC metric
    assert metrics["fid"] > 0 and metrics["mifid"] >= metrics["fid"]
    assert (work / "reports/cyclegan/translations.png").is_file()
    assert sorted(p.name for p in (work / "reports/cyclegan/snapshots").iterdir()) == ["step_0000004.png"]
    with zipfile.ZipFile(work / "reports/cyclegan/submission.zip") as archive:
        assert len(archive.namelist()) == 6
    # a folder of one's own through the trained generators, both directions
    for direction in ("a2b", "b2a"):
        result = run_stage(
            work, "translate", "--in", "domains/b", "--out", f"out_{direction}", "--direction", direction
        )
        assert result.returncode == 0, result.stderr
        written = sorted((work / f"out_{direction}").iterdir())
        assert [p.name for p in written] == [f"m{i}.png" for i in range(6)]
        assert Image.open(written[0]).size == (32, 32)
    assert not np.array_equal(
        np.asarray(Image.open(work / "out_a2b/m0.png")), np.asarray(Image.open(work / "out_b2a/m0.png"))
    )
    result = run_stage(work, "translate", "--in", "domains/b", "--out", "out_a2b")
    assert result.returncode == 2 and error_lines(result) == [
        "error: --out out_a2b: the folder is not empty; name a new one"
    ]


def test_prepare_domains_bad_input_one_line_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = write_params(tmp_path, SMOKE, monkeypatch)
    (work / "domains/a").mkdir(parents=True)
    (work / "domains/b").mkdir(parents=True)
    result = run_stage(work, "prepare_domains")
    assert result.returncode == 2 and error_lines(result) == [
        "error: domains/a: no images (.bmp, .gif, .jpeg, .jpg, .png, .tif, .tiff, .webp) in this folder"
    ]
    Image.new("RGB", (40, 40)).save(work / "domains/a/ok.png")
    (work / "domains/a/broken.jpg").write_bytes(b"not a jpeg")
    Image.new("RGB", (40, 40)).save(work / "domains/b/ok.png")
    result = run_stage(work, "prepare_domains")
    assert error_lines(result) == [
        "error: domains/a/broken.jpg: not a readable image (UnidentifiedImageError)"
    ]
    (work / "domains/a/broken.jpg").unlink()
    Image.new("RGB", (20, 40)).save(work / "domains/a/small.png")
    write_params(tmp_path, [*SMOKE, "domains.small_images=error"], monkeypatch)
    result = run_stage(work, "prepare_domains")
    assert error_lines(result) == [
        "error: domains/a/small.png: 20x40 is smaller than domains.image_size=32 "
        "(set domains.small_images=upscale to enlarge it)"
    ]
    assert not (work / "data/domains").exists()  # nothing half-written
    write_params(tmp_path, SMOKE, monkeypatch)
    result = run_stage(work, "prepare_domains")
    assert result.returncode == 0 and "small.png: 20x40 upscaled" in result.stderr


def test_export_with_too_few_photos_stops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = write_params(tmp_path, [*SMOKE, "cyclegan.steps=2", "export.allow_fewer=false"], monkeypatch)
    _domains(work / "domains", count=3)
    for stage in ("prepare_domains", "train_cyclegan"):
        assert run_stage(work, stage).returncode == 0
    result = run_stage(work, "export")
    assert result.returncode == 2
    assert error_lines(result) == [
        "error: domains/a: 3 images, fewer than export.min_images=7000 that Kaggle requires; "
        "add photos, or set export.allow_fewer=true for a local zip"
    ]
    assert not (work / "reports/cyclegan/submission.zip").exists()
