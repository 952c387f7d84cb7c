"""Stage `stylize`: the style image onto the content image and the control image.

    python -m stages.stylize

Writes reports/style/transfer/{content,control}.png (the stylised images beside their
inputs: content | style | result), reports/style/losses/{content,control}.csv (per
iteration, for `dvc plots show`), reports/style/metrics.json (the DVC metric: final
content, style and total losses and seconds per image) and reports/style/protocol.json
beside it (the backbone with its weights' sha256, the resolved settings, iterations per
second).
"""

from __future__ import annotations

import logging
from dataclasses import asdict

import torch

from stages.core import paths
from stages.core.device import resolve_device, set_threads
from stages.core.io import write_json, write_text
from stages.core.schema import Config
from stages.core.stage import stage_main
from stages.data.images import save_grid, to_uint8
from stages.style.transfer import StyleLoss, StyleSettings, history_csv, prepare_transfer, transfer

log = logging.getLogger("stylize")
OUT = paths.STYLE_REPORTS


def run(cfg: Config, progress: bool = True) -> dict:
    set_threads(cfg.train.num_threads)
    s = cfg.style
    device = resolve_device(s.device)
    backbone, contents, style = prepare_transfer(s, paths.featurenet_path(cfg.data.name), device)
    settings = StyleSettings.resolve(s, backbone)
    backbone.keep_up_to(settings.content_layers + settings.style_layers)
    backbone.to(device)
    log.info(
        "backbone %s, %d px, %d iterations of %s",
        backbone.info.name,
        s.image_size,
        s.iterations,
        s.optimizer.value,
    )
    protocol: dict = {
        "backbone": backbone.info.name,
        "backbone_weights_sha256": backbone.info.weights_sha256,
        "settings": asdict(settings),
        "image_size": s.image_size,
        "iterations": s.iterations,
        "optimizer": s.optimizer.value,
        "device": str(device),
        "iterations_per_second": {},
    }
    metrics: dict = {}
    for name, content in contents.items():
        result = transfer(
            s, StyleLoss(backbone, settings, content, style), content, [s.iterations], progress, name
        )
        final = result.history[-1]
        picture = torch.cat([content.cpu(), style.cpu(), result.snapshots[s.iterations]])
        save_grid(to_uint8(picture, low=0.0), OUT / "transfer" / f"{name}.png", nrow=3)
        write_text(OUT / "losses" / f"{name}.csv", history_csv(result.history))
        metrics[name] = {  # 6 significant digits: style losses can be ~1e-8
            "content_loss": float(f"{final['content']:.6g}"),
            "style_loss": float(f"{final['style']:.6g}"),
            "total_loss": float(f"{final['total']:.6g}"),
            "start_total_loss": float(f"{result.history[0]['total']:.6g}"),
            "seconds": round(result.seconds, 2),
        }
        protocol["iterations_per_second"][name] = round(s.iterations / max(result.seconds, 1e-9), 2)
        log.info(
            "%s: total loss %.4g -> %.4g in %.1f s",
            name,
            result.history[0]["total"],
            final["total"],
            result.seconds,
        )
    write_json(OUT / "metrics.json", metrics)
    write_json(OUT / "protocol.json", protocol)
    return metrics


if __name__ == "__main__":
    stage_main(run)
