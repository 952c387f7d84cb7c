"""Writes that never leave half a file behind, and stable file hashes.

Every output goes to a temporary path beside its target and is renamed at the end, so
an interrupted stage leaves either the old output or none, never a truncated one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from stages.core.errors import UserError


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path` (file or folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    _remove(tmp)
    try:
        yield tmp
        _remove(path)
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")


def write_json(path: str | Path, data: Any) -> None:
    """JSON with sorted keys and a final newline, so equal data gives equal bytes."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: not found (run the stage that writes it first)")
    return json.loads(path.read_text(encoding="utf-8"))


def save_torch(path: str | Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_torch(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """Load tensors only: weights_only=True, so a shared .pt can never run code here."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: not found (run the stage that writes it first)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise UserError(f"{path}: cannot be loaded as weights: {str(err).splitlines()[0]}") from None


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[Any]], formats: Sequence[str]) -> str:
    """CSV with a header line and one fixed number format per column (`format(value, spec)`),
    so equal values give equal bytes on any machine."""
    lines = [",".join(columns)]
    for row in rows:
        lines.append(",".join(format(value, spec) for value, spec in zip(row, formats, strict=True)))
    return "\n".join(lines) + "\n"
