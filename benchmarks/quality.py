"""Quality cost of linking (LinkGAN Sec. 4: FID 3.98 -> 5.00 on FFHQ): Fréchet distance between generated
and procedural toy faces in the shipped segmenter's feature space (linkgan.quality: Inception weights are
not available offline), for the linked generator and the baseline trained without links. fd_procedural is
the distance between two disjoint sets of procedural faces of the same size: the floor of the measure."""
from __future__ import annotations

from linkgan.data import HELDOUT_SEEDS

from . import _weights

PAPER = {"fd_linked": 5.00, "fd_baseline": 3.98, "fd_ratio": round(5.00 / 3.98, 3)}


def run(*, quick: bool = False) -> dict:
    from linkgan.hub import DEFAULT_GENERATOR
    from linkgan.quality import FEATURE_SPACE, frechet_distance, generated_images, procedural_images, segmenter_features

    n = 500 if quick else 2000
    seg = _weights.segmenter()
    size = seg.config.resolution
    start = HELDOUT_SEEDS.start
    real = segmenter_features(seg, procedural_images(range(start, start + n), size))
    real2 = segmenter_features(seg, procedural_images(range(start + n, start + 2 * n), size))
    fd = {}
    for key, name in (("fd_linked", DEFAULT_GENERATOR), ("fd_baseline", _weights.BASELINE_GENERATOR)):
        G = _weights.generator(name)
        fd[key] = frechet_distance(segmenter_features(seg, generated_images(G, n)), real)
    return {"fd_linked": round(fd["fd_linked"], 4), "fd_baseline": round(fd["fd_baseline"], 4),
            "fd_ratio": round(fd["fd_linked"] / fd["fd_baseline"], 4), "feature_space": FEATURE_SPACE,
            "fd_procedural": round(frechet_distance(real2, real), 4), "images": n, "paper": PAPER}
