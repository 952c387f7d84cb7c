"""The one DVC message ganrepro drops: a never-run output's missing hash, before the run."""

from __future__ import annotations

import logging

import pytest

from stages.core.dvc_logging import CHECKOUT_LOGGERS, quiet_never_run_outputs


@pytest.mark.parametrize("name", CHECKOUT_LOGGERS)
def test_only_the_never_run_output_warning_is_dropped(caplog: pytest.LogCaptureFixture, name: str) -> None:
    logger = logging.getLogger(name)
    quiet_never_run_outputs()
    quiet_never_run_outputs()  # idempotent: the plugin may be imported more than once
    assert len(logger.filters) == 1
    with caplog.at_level(logging.WARNING, logger=name):
        logger.warning("No file hash info found for '%s'. It won't be created.", "data/prepared/mine")
        logger.warning("Checkout failed for following targets: %s", "data/prepared/cifar10")
        logging.getLogger("dvc").warning("No file hash info found for 'x'")  # another logger: kept
    assert [r.getMessage() for r in caplog.records] == [
        "Checkout failed for following targets: data/prepared/cifar10",
        "No file hash info found for 'x'",
    ]
