"""`python -m stages.config check|write [overrides...]`: compare params.yaml with the
composition of conf/, or write it (what `dvc exp run` does before running the pipeline).

The schema itself lives in stages.core.schema; this module is only its command line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from omegaconf import OmegaConf

from stages.core.errors import UserError, run_main
from stages.core.io import write_text
from stages.core.schema import compose, dump_yaml, validate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="compose conf/ into params.yaml, or check it")
    parser.add_argument("action", choices=["check", "write"])
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    composed = compose(args.overrides)
    validate(composed, "conf/")
    target = Path(args.params)
    if args.action == "write":
        write_text(target, dump_yaml(composed))
        print(f"wrote {target}")
        return
    current = OmegaConf.to_container(OmegaConf.load(target)) if target.is_file() else None
    if current != composed:
        raise UserError(
            f"{target} is not the composition of conf/: run `dvc exp run` (or "
            "`python -m stages.config write`) and commit the result"
        )
    print(f"{target} matches conf/")


if __name__ == "__main__":
    run_main(main)
