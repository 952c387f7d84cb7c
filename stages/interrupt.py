"""Ctrl-C for long loops (GAN and CycleGAN training): the first one asks the loop to stop
at the next step boundary, after its checkpoint, so resume is exact; a second one kills."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading

log = logging.getLogger("interrupt")


@contextlib.contextmanager
def stop_on_sigint():
    """Turn the first Ctrl-C into a flag the loop checks between steps; a second one kills."""
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return

    def handler(signum, frame):  # noqa: ANN001, ARG001
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()
        log.warning("Ctrl-C: stopping after this step and saving a checkpoint")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield requested
    finally:
        signal.signal(signal.SIGINT, previous)
