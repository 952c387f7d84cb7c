"""Rewrite every dvc.yaml stage's code deps (the `stages/...py` lines) to exactly the files
its command imports, as tests/test_layout.py computes them; other deps stay as they are.

    python scripts/sync_dvc_deps.py        # then review `git diff dvc.yaml`
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.test_layout import code_run_by, dvc_stages  # noqa: E402


def synced(text: str) -> str:
    stages = dvc_stages()
    out: list[str] = []
    stage, in_deps, inserted = None, False, False
    for line in text.splitlines():
        if match := re.match(r"^  (\w+):$", line):
            stage = match.group(1)
        if line.strip() == "deps:":
            in_deps, inserted = True, False
            out.append(line)
            continue
        if in_deps and line.startswith("      - "):
            if not inserted:
                module = re.search(r"python -m (stages\.\w+)", stages[stage]["cmd"]).group(1)
                own = module.replace(".", "/") + ".py"
                code = [own] + [f for f in code_run_by(module) if f != own]
                out += [f"      - {f}" for f in code]
                inserted = True
            if re.match(r"^      - stages/.*\.py$", line):
                continue
        elif in_deps:
            in_deps = False
        out.append(line)
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    path = REPO / "dvc.yaml"
    path.write_text(synced(path.read_text()))
    print(f"rewrote the code deps in {path}")
