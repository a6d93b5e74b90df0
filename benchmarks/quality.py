"""Quality cost of linking (LinkGAN Sec. 4: FID 3.98 -> 5.00 on FFHQ): Fréchet distance between generated
and procedural toy faces in the shipped segmenter's feature space (linkgan.quality: Inception weights are
not available offline), for the linked generator and the baseline trained without links. fd_procedural is
the distance between two disjoint sets of procedural faces of the same size: the floor of the measure.
fd_parts says where each FD comes from (its mean term, and the FD of each block of features alone: the encoder
levels' channel means, and the deepest level pooled 2 x 2, which is coarse layout); std_gap is the mean per-pixel
standard deviation of the samples minus that of the procedural faces (below 0: less varied). coverage says which
modes a generator draws too rarely: per attribute, the total variation distance between the attribute oracle's
reading of the samples and of the procedural faces, and the classes drawn at under half their share.
label_disagreement: on how many faces the segmenter (the links' regions) and the oracle (region control) disagree
on whether a part is drawn (linkgan.control.label_disagreement), for each generator and the procedural faces."""
from __future__ import annotations

from linkgan.data import HELDOUT_SEEDS

from . import _weights

PAPER = {"fd_linked": 5.00, "fd_baseline": 3.98, "fd_ratio": round(5.00 / 3.98, 3)}


def run(*, quick: bool = False) -> dict:
    from linkgan.control import label_disagreement
    from linkgan.hub import DEFAULT_GENERATOR
    from linkgan.oracle import attribute_frequencies, coverage_gap
    from linkgan.quality import (FEATURE_SPACE, fd_breakdown, feature_blocks, frechet_distance, generated_images,
                                 procedural_images, segmenter_features)

    n = 500 if quick else 2000
    seg = _weights.segmenter()
    size = seg.config.resolution
    start = HELDOUT_SEEDS.start
    procedural = procedural_images(range(start, start + n), size)
    real = segmenter_features(seg, procedural)
    real2 = segmenter_features(seg, procedural_images(range(start + n, start + 2 * n), size))
    oracle = _weights.oracle()
    reads = oracle.predict(procedural)                                 # read once: coverage and agreement
    reference = attribute_frequencies(oracle, procedural, reads=reads)
    fd, parts, std_gap, coverage = {}, {}, {}, {}
    disagreement = {"procedural": label_disagreement(procedural, seg, oracle, reads=reads)}
    for key, name in (("fd_linked", DEFAULT_GENERATOR), ("fd_baseline", _weights.BASELINE_GENERATOR)):
        images = generated_images(_weights.generator(name), n)
        feats = segmenter_features(seg, images)
        fd[key] = frechet_distance(feats, real)
        parts[key] = fd_breakdown(feats, real, feature_blocks(seg))
        std_gap[key] = round(float(images.std(0).mean() - procedural.std(0).mean()), 4)
        reads = oracle.predict(images)
        coverage[key] = coverage_gap(attribute_frequencies(oracle, images, reads=reads), reference)
        disagreement[key.removeprefix("fd_")] = label_disagreement(images, seg, oracle, reads=reads)
    return {"fd_linked": round(fd["fd_linked"], 4), "fd_baseline": round(fd["fd_baseline"], 4),
            "fd_ratio": round(fd["fd_linked"] / fd["fd_baseline"], 4), "feature_space": FEATURE_SPACE,
            "fd_procedural": round(frechet_distance(real2, real), 4), "fd_parts": parts, "std_gap": std_gap,
            "coverage": coverage, "label_disagreement": disagreement,
            "images": n, "paper": PAPER}
