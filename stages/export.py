"""Stage `export`: reports/cyclegan/submission.zip, every A image translated to B's style.

python -m stages.export [--params params.yaml]

Kaggle's "I'm Something of a Painter Myself" takes a zip of 7,000 to 10,000 JPEGs of
256x256. All A images (training and held-out) are translated, resized to
export.image_size when the model works at another size, and written as <source name>.jpg.
With fewer than export.min_images A images the stage stops, unless export.allow_fewer.
"""

from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from PIL import Image
from tqdm import tqdm

from stages.core import paths
from stages.core.device import resolve_device, set_threads
from stages.core.errors import UserError
from stages.core.io import atomic_path, read_json
from stages.core.schema import Config, ExportConfig
from stages.core.stage import stage_main
from stages.cyclegan.translation import load_generators, translate
from stages.data.domains import load_domains

log = logging.getLogger("export")

SUBMISSION = paths.CYCLEGAN_REPORTS / "submission.zip"
# a fixed timestamp for every zip entry, so the same images give the same zip bytes
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def check_count(count: int, cfg: ExportConfig, source: str) -> None:
    if count > cfg.max_images:
        raise UserError(f"{source}: {count} images, more than export.max_images={cfg.max_images}")
    if count < cfg.min_images and not cfg.allow_fewer:
        raise UserError(
            f"{source}: {count} images, fewer than export.min_images={cfg.min_images} that Kaggle "
            "requires; add photos, or set export.allow_fewer=true for a local zip"
        )


def jpeg_bytes(image: torch.Tensor, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def write_submission(images: torch.Tensor, names: list[str], path: Path, cfg: ExportConfig) -> None:
    """uint8 (N, 3, S, S) -> a zip of <stem>.jpg at export.image_size, written atomically."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for image, name in zip(tqdm(images, desc="export"), names, strict=True):
            if image.shape[-1] != cfg.image_size:
                image = F.interpolate(image[None].float(), size=(cfg.image_size,) * 2, mode="bicubic")[0]
                image = image.round().clamp(0, 255).to(torch.uint8)
            entry = zipfile.ZipInfo(f"{Path(name).stem}.jpg", date_time=ZIP_DATE)
            archive.writestr(entry, jpeg_bytes(image, cfg.quality))


def run(cfg: Config) -> None:
    images_a, _, _ = load_domains(cfg.domains.name)
    names = read_json(paths.domains_dir(cfg.domains.name) / "names.json")["a"]
    check_count(len(images_a), cfg.export, str(cfg.domains.a))
    if len(set(Path(n).stem for n in names)) != len(names):
        raise UserError(f"{cfg.domains.a}: two images share a file stem; the zip needs unique names")
    set_threads(cfg.train.num_threads)
    device = resolve_device(cfg.cyclegan.device)
    g_ab, _, _ = load_generators(paths.cyclegan_path(cfg.domains.name))
    translated = translate(g_ab, np.ascontiguousarray(images_a), device, cfg.cyclegan.eval_batch_size)
    write_submission(translated, names, SUBMISSION, cfg.export)
    log.info("wrote %s: %d JPEGs of %d px", SUBMISSION, len(names), cfg.export.image_size)


if __name__ == "__main__":
    stage_main(run)
