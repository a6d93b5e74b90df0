"""Segmenter benchmark: held-out mIoU and CPU speed of the shipped toy-faces part segmenter (a tiny U-Net,
`linkgan.segmenter`), the model behind LinkGAN's semantic links (LinkGAN Sec. 3.2). Needs the weights:
accuracy of a random init would mean nothing, so missing weights are an error, not a fallback.
"""
from __future__ import annotations


import torch

from ._timing import median_ms

WEIGHTS = "toyfaces64-segmenter"


def _load():
    from linkgan.hub import WeightsNotFoundError
    from linkgan.segmenter import Segmenter

    try:
        return Segmenter.from_pretrained(WEIGHTS, device="cpu")
    except WeightsNotFoundError as e:
        raise WeightsNotFoundError(
            f"segmenter benchmark needs the {WEIGHTS!r} weights (checkpoints/{WEIGHTS}/); train them with "
            f"`python training/train_segmenter.py --out checkpoints/{WEIGHTS}`. {e}") from e


def forward_ms(model, batch: int, *, runs: int, warmup: int) -> float:
    """Median ms of one no-grad forward of a (batch, 3, R, R) batch at the model's resolution."""
    r = model.config.resolution
    x = torch.rand(batch, 3, r, r, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        return median_ms(lambda: model(x), runs=runs, warmup=warmup)


def run(*, quick: bool = False) -> dict:
    from linkgan.segmenter import evaluate, heldout_faces

    model = _load()
    n_faces, runs = (64, 3) if quick else (500, 20)
    images, masks = heldout_faces(n_faces, size=model.config.resolution)
    mean, per = evaluate(model, images, masks)
    return {
        "weights": WEIGHTS,
        "miou": round(mean, 4),
        "per_label": {k: round(v, 4) for k, v in per.items()},
        "heldout_faces": n_faces,
        "forward_ms_bs16": forward_ms(model, 16, runs=runs, warmup=3),
        "params": sum(p.numel() for p in model.parameters()),
        "timing": f"CPU fp32, {torch.get_num_threads()} threads, median of {runs} no-grad forwards after 3 warm-ups",
    }
