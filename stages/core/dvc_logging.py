"""What ganrepro changes in DVC's own logging, from inside `dvc exp run`.

Before an experiment runs its stages, DVC checks out every output dvc.lock records. An
output at a path the lock has never seen (a dataset other than the committed one names
its outputs data/prepared/<name>, ...) gets "No file hash info found for '...'. It won't
be created." once per output: nothing is wrong, the stage about to run creates it. Only
that message is dropped; every other warning and error is shown as DVC writes it.
"""

from __future__ import annotations

import logging

NEVER_RUN_OUTPUT = "No file hash info found for"
# dvc_data logs the message from whichever checkout path DVC takes
CHECKOUT_LOGGERS = ("dvc_data.index.checkout", "dvc_data.hashfile.checkout")


class DropNeverRunOutputs(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(NEVER_RUN_OUTPUT)


def quiet_never_run_outputs() -> None:
    """Install the filter on DVC's checkout loggers (once per process)."""
    for name in CHECKOUT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropNeverRunOutputs) for f in logger.filters):
            logger.addFilter(DropNeverRunOutputs())
