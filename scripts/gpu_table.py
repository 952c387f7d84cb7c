"""Every family on one GPU in one process, at the step count a time budget allows.

    python -m stages.config write profile=table_gpu --params params-table-gpu.yaml
    python scripts/gpu_table.py --params params-table-gpu.yaml --budget-seconds 480 \
        --out reports/table-gpu [--seeds 3] [--top 3] [--steps N] [--pack run.tar.gz]

For a lent GPU with PyTorch but without DVC: it runs the data stages (prepare, reference
statistics, outliers, training set) in this process, then times each family's training step
through the pipeline's own loop (a short run and a longer one, so capture and warm-up drop
out; a CUDA graph where the step captures, else eagerly, and it says which). From those times
it picks the largest step count, a multiple of 100 and at most train.steps, at which every
family once and the `top` slowest `seeds - 1` more times fit in what is left of the budget
(--steps N skips that choice). Every family then trains for that many G updates with seed 0
and is scored by the evaluate stage; then the `top` families with the lowest FID train with
seeds 1 .. seeds-1, as many as the budget still allows (run.json says which ran).

Writes OUT/seed<n>/ in the layout of `make table`'s folders (leaderboard.md, leaderboard.csv,
samples/<family>/grid.png, with metrics/<family>.json, its protocol and the training summary),
OUT/seed0/samples.png (scripts/table_samples.py) and OUT/run.json: the machine, the step count,
each family's measured step time and the seconds of each phase. Run again with the same OUT,
it takes the step count from run.json and skips the runs already scored; with other params,
it stops and says so.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from stages import evaluate, outliers, prepare, reference_stats, report, train, trainset  # noqa: E402
from stages.core import paths  # noqa: E402
from stages.core.device import resolve_device  # noqa: E402
from stages.core.errors import UserError, run_main  # noqa: E402
from stages.core.io import write_json, write_text  # noqa: E402
from stages.core.schema import Config, fingerprint, load_params  # noqa: E402
from stages.data.dataset import ImageSet, load_prepared  # noqa: E402
from stages.gan.loop import train_gan  # noqa: E402

log = logging.getLogger("gpu_table")

PROBE_STEPS = (10, 160)  # two short runs: their difference is the per-step time (150 steps: above the noise)
EVAL_SECONDS_GUESS = 6.0  # per run, before one has been timed: grids, evaluation, copies
RESERVE_SECONDS = 20.0  # the leaderboards, samples.png and the last pack
STEP_QUANTUM = 100


@dataclasses.dataclass
class Probe:
    seconds_per_step: float
    overhead_seconds: float  # model build, warm-up and capture: paid once per run
    cuda_graph: bool
    note: str = ""


def rounded(facts: dict) -> dict:
    return {key: round(value, 5) if isinstance(value, float) else value for key, value in facts.items()}


def with_run(cfg: Config, seed: int, steps: int, cuda_graph: bool) -> Config:
    return dataclasses.replace(
        cfg, train=dataclasses.replace(cfg.train, seed=seed, steps=steps, cuda_graph=cuda_graph)
    )


def probe(cfg: Config, family: str, data: ImageSet, device: torch.device) -> Probe:
    """Seconds per step of the family's training loop here, with a CUDA graph where the step
    captures (the stage stops with a UserError where it cannot), else eagerly."""
    attempts = [True, False] if cfg.train.cuda_graph and device.type == "cuda" else [False]
    note = ""
    for graphed in attempts:
        try:
            seconds = []
            for steps in PROBE_STEPS:
                train_cfg = dataclasses.replace(cfg.train, steps=steps, cuda_graph=graphed)
                seconds.append(train_gan(train_cfg, cfg.models[family], data, device, progress=False).seconds)
        except (UserError, RuntimeError) as err:  # a capture can fail inside PyTorch too
            if not graphed:
                raise
            note = str(err).splitlines()[0]
            log.warning("%s: %s; timing it eagerly", family, note)
            continue
        per_step = max((seconds[1] - seconds[0]) / (PROBE_STEPS[1] - PROBE_STEPS[0]), 1e-6)
        overhead = max(seconds[0] - per_step * PROBE_STEPS[0], 0.0)
        return Probe(per_step, overhead, graphed, note)
    raise AssertionError("unreachable: the eager attempt raises or returns")


def choose_steps(probes: dict[str, Probe], seconds_left: float, seeds: int, top: int, cap: int) -> int:
    """The largest multiple of STEP_QUANTUM (at most cap) at which every family once and the
    `top` slowest families seeds - 1 more times fit in seconds_left."""
    slowest = sorted(probes.values(), key=lambda p: p.seconds_per_step, reverse=True)[:top]
    runs = list(probes.values()) + slowest * (seeds - 1)
    fixed = sum(p.overhead_seconds + EVAL_SECONDS_GUESS for p in runs)
    per_step = sum(p.seconds_per_step for p in runs)
    steps = int((seconds_left - fixed) / per_step) // STEP_QUANTUM * STEP_QUANTUM
    if steps < STEP_QUANTUM:
        raise UserError(
            f"--budget-seconds: {seconds_left:.0f} s left after the data stages and the timing "
            f"runs, too few for {STEP_QUANTUM} steps of every family (need about "
            f"{fixed + per_step * STEP_QUANTUM:.0f} s); give more, or fewer families"
        )
    return min(steps, cap)


def train_and_score(cfg: Config, family: str, seed_dir: Path) -> dict:
    """The train and evaluate stages for one family; their outputs copied into seed_dir."""
    train.run(cfg, family, progress=False)
    metrics = evaluate.run(cfg, family)
    copies = {
        paths.metrics_path(family): seed_dir / "metrics" / f"{family}.json",
        paths.protocol_path(family): seed_dir / "metrics" / paths.protocol_path(family).name,
        paths.train_summary(family): seed_dir / "train" / family / "summary.json",
        paths.samples_dir(family) / "grid.png": seed_dir / "samples" / family / "grid.png",
    }
    for source, target in copies.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return metrics


def write_leaderboard(cfg: Config, families: list[str], seed_dir: Path) -> None:
    """report's leaderboard of these families, from their copies in seed_dir."""
    markdown, csv = report.leaderboard(dataclasses.replace(cfg, families=families), seed_dir / "metrics")
    markdown = re.sub(r" \(10 more grids of 100 in samples/\w+/\)", "", markdown)
    write_text(seed_dir / "leaderboard.md", markdown)
    write_text(seed_dir / "leaderboard.csv", csv.to_csv(index=False, lineterminator="\n"))


def pack(out: Path, target: Path | None) -> None:
    """OUT as one .tar.gz (written whole, then renamed): what a lent machine sends back."""
    if target is None:
        return
    partial = target.with_name(target.name + ".partial")
    with tarfile.open(partial, "w:gz") as archive:
        archive.add(out, arcname=out.name)
    partial.replace(target)


def machine() -> dict:
    facts = {"python": platform.python_version(), "torch": torch.__version__}
    if torch.cuda.is_available():
        facts["gpu"] = torch.cuda.get_device_name()
        facts["cuda"] = torch.version.cuda
    else:
        facts["cpu"] = platform.processor() or platform.machine()
    try:
        facts["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        facts["commit"] = "unknown (no git here)"
    return facts


def prepare_data(cfg: Config) -> None:
    """The stages before training, as `dvc repro` runs them."""
    prepare.run(cfg)
    reference_stats.run(cfg)
    outliers.run(cfg, progress=False)
    trainset.run(cfg)


def write_samples(seed_dir: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "table_samples.py"), str(seed_dir)], check=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", type=Path, default=Path("reports/table-gpu"))
    parser.add_argument("--budget-seconds", type=float, default=480.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument("--steps", type=int, default=0, help="skip the timing runs: train this many steps")
    parser.add_argument("--pack", type=Path, default=None, help="a .tar.gz of OUT, rewritten after each run")
    parser.add_argument("--commit", default="", help="the commit, where the copy has no git")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    cfg = load_params(args.params)
    device = resolve_device(cfg.train.device)
    run_path = args.out / "run.json"
    state = json.loads(run_path.read_text()) if run_path.is_file() else {}
    params_hash = fingerprint(cfg)
    if state.get("params_fingerprint", params_hash) != params_hash:
        raise UserError(f"{run_path}: a run of other params; give another --out, or delete {args.out}")
    state["params_fingerprint"] = params_hash
    state.setdefault("machine", machine())
    if args.commit:
        state["machine"]["commit"] = args.commit
    state.update(params=str(args.params), profile=cfg.profile, families=cfg.families)
    state.setdefault("phases_seconds", {})
    state.setdefault("runs", {})

    def save_state() -> None:
        write_json(run_path, state)
        pack(args.out, args.pack)

    def phase(name: str, since: float) -> float:
        state["phases_seconds"][name] = round(time.perf_counter() - since, 1)
        save_state()
        return time.perf_counter()

    tick = time.perf_counter()
    prepare_data(cfg)
    tick = phase("data stages", tick)

    if "steps" not in state:
        if args.steps:
            state["steps"], state["probes"] = args.steps, {}
        else:
            data = load_prepared(paths.trainset_dir(cfg.data.name), "train")
            probes = {family: probe(cfg, family, data, device) for family in cfg.families}
            state["probes"] = {family: rounded(dataclasses.asdict(p)) for family, p in probes.items()}
            tick = phase("timing runs", tick)
            left = args.budget_seconds - (time.perf_counter() - start) - RESERVE_SECONDS
            cap = cfg.train.steps
            state["steps"] = choose_steps(probes, left, args.seeds, args.top, cap)
        save_state()
    steps = state["steps"]
    log.info("every family trains %d G updates at batch %d", steps, cfg.train.batch_size)

    def graphed(family: str) -> bool:
        found = state["probes"].get(family)
        return bool(found["cuda_graph"]) if found else cfg.train.cuda_graph

    def one_run(family: str, seed: int) -> None:
        key = f"{family}/seed{seed}"
        if "fid" in state["runs"].get(key, {}):
            return
        run_start = time.perf_counter()
        run_cfg = with_run(cfg, seed, steps, graphed(family))
        try:
            metrics = train_and_score(run_cfg, family, args.out / f"seed{seed}")
        except (UserError, RuntimeError) as err:  # one family's crash must not lose the others
            state["runs"][key] = {"error": str(err).splitlines()[0]}
            log.error("%s: %s", key, state["runs"][key]["error"])
        else:
            state["runs"][key] = {"fid": metrics["fid"], "seconds": round(time.perf_counter() - run_start, 1)}
        save_state()

    for family in cfg.families:
        one_run(family, 0)
    scored = [family for family in cfg.families if "fid" in state["runs"][f"{family}/seed0"]]
    write_leaderboard(cfg, scored, args.out / "seed0")
    write_samples(args.out / "seed0")
    tick = phase("seed 0", tick)

    best = sorted(scored, key=lambda family: state["runs"][f"{family}/seed0"]["fid"])[: args.top]
    state["top"], state["skipped"] = best, []
    for seed in range(1, args.seeds):
        done = []
        for family in best:
            key = f"{family}/seed{seed}"
            expected_end = time.perf_counter() - start + state["runs"][f"{family}/seed0"]["seconds"]
            if "fid" not in state["runs"].get(key, {}) and expected_end > args.budget_seconds:
                state["skipped"].append(key)
                left = args.budget_seconds - (time.perf_counter() - start)
                log.warning("%s: skipped, %.0f s of the budget left", key, left)
                continue
            one_run(family, seed)
            if "fid" in state["runs"][key]:
                done.append(family)
        if done:
            write_leaderboard(cfg, done, args.out / f"seed{seed}")
    phase("more seeds", tick)
    state["seconds"] = round(time.perf_counter() - start, 1)
    save_state()
    log.info("done in %.0f s: %s", state["seconds"], run_path)


if __name__ == "__main__":
    run_main(main)
