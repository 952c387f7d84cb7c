"""The one entry point of every stage module: `python -m stages.<stage> [--params P] ...`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from stages.core.errors import run_main
from stages.core.schema import load_params


def stage_main(
    run: Callable[..., object],
    argv: list[str] | None = None,
    *,
    family: bool = False,
    options: Callable[[argparse.ArgumentParser], None] | None = None,
    pass_params: bool = False,
) -> None:
    """Parse `--params` (and `--family` when `family`, and whatever `options` adds), load and
    validate params.yaml, then call run(cfg, **the other arguments), `params` (the path)
    among them when `pass_params`. Bad input ends in one line on stderr and exit status 2
    (stages.core.errors.run_main)."""

    def main(args_in: list[str] | None) -> None:
        doc = sys.modules[run.__module__].__doc__ or run.__module__
        parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
        if family:
            parser.add_argument("--family", required=True)
        parser.add_argument("--params", default="params.yaml")
        if options is not None:
            options(parser)
        args = vars(parser.parse_args(args_in))
        cfg = load_params(args["params"] if pass_params else args.pop("params"))
        run(cfg, **args)

    run_main(main, argv)
