"""One error type for bad input, and the entry-point wrapper that reports it in one line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable


class UserError(Exception):
    """Bad input: a file, key or value the user can fix. Printed as one line, exit 2."""


def run_main(main: Callable[[list[str] | None], None], argv: list[str] | None = None) -> None:
    """Run a stage's main; turn UserError into `error: ...` on stderr and exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        main(argv)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        sys.exit(130)
