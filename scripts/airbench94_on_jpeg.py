"""How far does Keller Jordan's own airbench94 get on the JPEG copy of CIFAR-10? Runs the
unmodified `legacy/airbench94.py` of a clone of KellerJordan/cifar10-airbench, changed only
to run on the CPU in float32 (it is written for float16 on CUDA) and to train once instead
of 25 times, on the prepared CIFAR-10 that `dvc repro` writes (data/prepared/cifar10).
Nothing of airbench is copied into this project: the patched copy lives in OUT_DIR.

    python scripts/airbench94_on_jpeg.py PATH/TO/cifar10-airbench OUT_DIR

Prints airbench's own table; its last line holds the test accuracy with and without its
test-time augmentation. On a 2-core AMD EPYC with AVX-512: 90.18 %, 90.72 % with TTA, in
1,504 s (docs/evaluation.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

PREPARED = Path(__file__).resolve().parents[1] / "data/prepared/cifar10"
# (what airbench94.py says, what it says here): CPU, float32, one run
PATCHES = [
    ("map_location=torch.device(gpu))", "map_location='cpu', weights_only=True)"),
    ("self.images.half()", "self.images.float()"),
    ("net = net.half().cuda()", "net = net.float()"),
    (
        "starter = torch.cuda.Event(enable_timing=True)",
        "import time as _t\n"
        "    class _Ev:\n"
        "        def record(self): self.t=_t.perf_counter()\n"
        "        def elapsed_time(self, o): return 1e3*(o.t-self.t)\n"
        "    starter = _Ev()",
    ),
    ("ender = torch.cuda.Event(enable_timing=True)", "ender = _Ev()"),
    ("torch.cuda.synchronize()", "pass"),
    ("for run in range(25)", "for run in range(1)"),
]


def main(airbench: Path, out: Path) -> None:
    source = (airbench / "legacy/airbench94.py").read_text()
    for before, after in PATCHES:
        if before not in source:
            sys.exit(f"error: {airbench / 'legacy/airbench94.py'}: no {before!r}; another airbench version")
        source = source.replace(before, after)
    (out / "cifar10").mkdir(parents=True, exist_ok=True)
    classes = json.loads((PREPARED / "meta.json").read_text())["classes"]
    for split in ("train", "test"):  # airbench's cache format: uint8 (N, H, W, C) and labels
        images = torch.from_numpy(np.load(PREPARED / f"{split}_images.npy")).permute(0, 2, 3, 1)
        labels = torch.from_numpy(np.load(PREPARED / f"{split}_labels.npy"))
        saved = {"images": images.contiguous(), "labels": labels, "classes": classes}
        torch.save(saved, out / f"cifar10/{split}.pt")
    (out / "airbench94_cpu.py").write_text(source)
    subprocess.run([sys.executable, "airbench94_cpu.py"], cwd=out, check=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
