"""`make ... NUMERICS=avx2`: the switch that holds PyTorch, oneDNN and MKL to AVX2 code paths
(docs/reproducibility.md). What it reaches is asked of the interpreter running the tests."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO


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
