"""scripts/gpu_table.py: the step count its time budget allows, the same for every family."""

import pytest

from stages.core.errors import UserError
from tests.conftest import script_module

gpu_table = script_module("gpu_table")


def probes(*seconds_per_step: float, overhead: float = 1.0) -> dict:
    return {f"f{i}": gpu_table.Probe(s, overhead, True) for i, s in enumerate(seconds_per_step)}


def test_every_family_once_and_the_slowest_again_fit_in_the_budget() -> None:
    found = probes(0.001, 0.002, 0.010)
    budget = 200.0
    steps = gpu_table.choose_steps(found, budget, seeds=3, top=1, cap=30000)
    assert steps % gpu_table.STEP_QUANTUM == 0
    runs = [0.001, 0.002, 0.010, 0.010, 0.010]  # the slowest family twice more

    def cost(n: int) -> float:
        return sum(s * n + 1.0 + gpu_table.EVAL_SECONDS_GUESS for s in runs)

    assert cost(steps) <= budget < cost(steps + gpu_table.STEP_QUANTUM)


def test_the_step_count_stops_at_the_profile_s_steps() -> None:
    assert gpu_table.choose_steps(probes(1e-5), 1e6, seeds=3, top=3, cap=30000) == 30000


def test_too_small_a_budget_says_how_much_it_needs() -> None:
    with pytest.raises(UserError, match=r"--budget-seconds: 30 s left.*need about \d+ s"):
        gpu_table.choose_steps(probes(0.1, 0.1), 30.0, seeds=3, top=3, cap=30000)
