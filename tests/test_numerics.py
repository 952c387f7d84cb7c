"""`make ... NUMERICS=avx2`: the switch that holds PyTorch, oneDNN and MKL to AVX2 code paths
(docs/reproducibility.md). What it reaches is asked of the interpreter running the tests."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO, script_module


def make_numerics(*args: str) -> subprocess.CompletedProcess:
    caps = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
    return subprocess.run(
        ["make", "-s", "numerics", f"PY={sys.executable}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k not in caps},
    )


def test_numerics_avx2_caps_all_three_libraries() -> None:
    result = make_numerics("NUMERICS=avx2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ATen AVX2 | ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2"


def test_native_numerics_set_no_cap() -> None:
    result = make_numerics()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("| ONEDNN_MAX_CPU_ISA=- MKL_ENABLE_INSTRUCTIONS=-")


def test_an_unknown_numerics_value_stops_make_with_one_line() -> None:
    result = make_numerics("NUMERICS=avx512")
    assert result.returncode != 0 and result.stdout == ""
    assert "NUMERICS=avx512: expected native or avx2" in result.stderr


def test_the_numerics_probe_repeats_itself_and_names_the_first_tensor_that_differs() -> None:
    """scripts/probe_numerics.py, whose files docs/reproducibility.md compares across CPUs."""
    probe = script_module("probe_numerics")
    first, second = probe.probe(2), probe.probe(2)
    assert first == second
    counts = {case: sum(line.startswith(f"{case} ") for line in first) for case in ("featurenet", "sngan")}
    assert probe.compare(first, second) == [f"{case}: all {n} tensors equal" for case, n in counts.items()]
    # one layer's output with other bits: the report names it, in the probe's order
    index = next(i for i, line in enumerate(second) if line.startswith("sngan forward D."))
    case, phase, name, md5, shape = second[index].split()
    changed = [*second[:index], f"{case} {phase} {name} {'0' * len(md5)} {shape}", *second[index + 1 :]]
    report = probe.compare(first, changed)
    assert report[0] == f"featurenet: all {counts['featurenet']} tensors equal"
    assert report[1] == f"sngan: 1 of {counts['sngan']} tensors differ; first: {phase} {name} ({shape})"
    assert probe.compare(first, first[:-1]) == [
        "the two files list other tensors: made by other versions of this probe"
    ]


def test_the_numerics_probe_builds_the_same_inputs_on_every_code_path(tmp_path) -> None:
    """Inputs and weights come from integers, not from a seeded randn that PyTorch vectorises
    per code path: the scalar kernels and this machine's own give the same `init` lines."""
    files = {}
    for capability in ("default", ""):
        out = tmp_path / f"{capability or 'native'}.txt"
        env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
        if capability:
            env["ATEN_CPU_CAPABILITY"] = capability
        result = subprocess.run(
            [sys.executable, "scripts/probe_numerics.py", str(out)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        files[capability] = out.read_text().splitlines()
    assert "kernels DEFAULT" in files["default"][1]
    inits = [[line for line in lines if line.split()[1:2] == ["init"]] for lines in files.values()]
    assert len(inits[0]) > 50 and inits[0] == inits[1]
