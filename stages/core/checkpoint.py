"""Resumable long loops (GAN, CycleGAN and autoencoder training): a checkpoint file that
only the same run may resume, and Ctrl-C turned into a stop at the next step boundary.

A checkpoint carries the fingerprint of the params and data that produced it, so a run
with other params or data never resumes from it. Writes are atomic (stages.core.io): an
interruption leaves the previous checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import torch

from stages.core.errors import UserError
from stages.core.io import load_torch, save_torch

log = logging.getLogger("checkpoint")


class Checkpoint:
    """The state file of one resumable run, tied to `fingerprint`."""

    def __init__(self, path: str | Path | None, fingerprint: str) -> None:
        self.path = None if path is None else Path(path)
        self.fingerprint = fingerprint

    def load(self, map_location: str | torch.device = "cpu") -> dict | None:
        """The saved state when it belongs to this run, else None (nothing saved, or saved by a
        run with other params or data, which is then ignored and later overwritten)."""
        if self.path is None or not self.path.is_file():
            return None
        try:
            state = load_torch(self.path, map_location=map_location)
        except UserError:
            # truncated (a full disk, a copy cut short) or not ours: loading it another way
            # (PyTorch's advice: weights_only=False) could run code. Keep it, start over.
            aside = self.path.with_name(self.path.name + ".unreadable")
            self.path.replace(aside)
            log.warning(
                "%s is unreadable (truncated, or not a checkpoint of this project): "
                "set aside as %s, starting over",
                self.path,
                aside.name,
            )
            return None
        if not isinstance(state, dict) or state.get("fingerprint") != self.fingerprint:
            log.warning("ignoring %s: it belongs to other params or data", self.path)
            return None
        return state

    def save(self, state: dict) -> None:
        if self.path is not None:
            save_torch(self.path, {"fingerprint": self.fingerprint, **state})

    def remove(self) -> None:
        """The run finished: a forced rerun must start afresh."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)


@contextlib.contextmanager
def stop_on_sigint() -> Iterator[threading.Event]:
    """Turn the first Ctrl-C into a flag the loop checks between steps, so it can stop after
    its checkpoint and resume exactly; a second Ctrl-C kills."""
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
