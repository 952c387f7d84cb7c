"""CI gate: dvc.lock must match the committed code, params and commands.

A fresh clone has no DVC cache, so every cached output (and every dependency that is
such an output) shows as deleted; that is expected and ignored. Anything else that
`dvc status` reports (a modified dependency, a changed param or command, a committed
report that differs from its lock entry) or a stage missing from dvc.lock fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

MISSING = {"deleted", "not in cache"}


def problems() -> list[str]:
    out = subprocess.run(["dvc", "status", "--json"], capture_output=True, text=True, check=False)
    if out.returncode not in (0, 1) or not out.stdout.strip().startswith("{"):
        return [f"dvc status failed: {out.stderr.strip() or out.stdout.strip()}"]
    found = []
    for stage, entries in json.loads(out.stdout).items():
        for entry in entries:
            if isinstance(entry, str):
                found.append(f"{stage}: {entry}")
                continue
            for kind, changes in entry.items():
                for path, change in changes.items():
                    if isinstance(change, dict):  # params: {name: modified/new/deleted}
                        found += [f"{stage}: {kind}: {path}: {k} {v}" for k, v in change.items()]
                    elif change not in MISSING:
                        found.append(f"{stage}: {kind}: {path} {change}")
    lock = yaml.safe_load(Path("dvc.lock").read_text()) if Path("dvc.lock").is_file() else {}
    locked = set((lock or {}).get("stages", {}))
    listed = subprocess.run(
        ["dvc", "stage", "list", "--name-only"], capture_output=True, text=True, check=True
    )
    found += [f"{name}: not in dvc.lock" for name in listed.stdout.split() if name not in locked]
    return found


def main() -> int:
    found = problems()
    if found:
        print(
            "dvc.lock is stale against the committed code/params; run `dvc exp run` (or `dvc repro`) "
            "and commit dvc.lock and reports/:"
        )
        print("\n".join(f"  - {p}" for p in found))
        return 1
    print("dvc.lock matches the code, params and commands")
    return 0


if __name__ == "__main__":
    sys.exit(main())
