"""LinkGAN linkage benchmark (LinkGAN Tables 2 and 3 protocols) on the shipped linked generator: for every
link, resample its axes (mse_in, mse_out: editing precision) and the other axes (leak_in), x1e-3 on [-1, 1]
images, over held-out seeds, untruncated, const noise. The same regions and axes measured on the baseline
(trained without links) show what the regularizer buys; mse_in_vs_baseline = mse_in / the baseline's (a region
that stopped varying scores far below 1). `control` reads content instead of pixels (linkgan.control): how often
the attribute oracle sees the link's region attributes change under its own resample (linked, against the data's
natural rate) and under the other axes' (unlinked), and how often other attributes change (elsewhere);
`control_data` is the same oracle reading a perfect link on the procedural faces themselves (each semantic link's
fields swapped between two faces, linkgan.control.data_control): the best a generator can score on this metric.
Paper (FFHQ 256, eyes, 64 of 512 axes)."""
from __future__ import annotations

from linkgan.data import HELDOUT_SEEDS

from . import _weights

PAPER = {"eyes.mse_in": 5.25, "eyes.mse_out": 2.24, "eyes.ratio": round(2.24 / 5.25, 3),
         "eyes.leak_in": 0.95, "eyes.leak_out": 8.20}


def run(*, quick: bool = False) -> dict:
    from linkgan.control import data_control, region_control
    from linkgan.hub import DEFAULT_GENERATOR
    from linkgan.links import generator_links, link_metrics

    G = _weights.generator(DEFAULT_GENERATOR)
    links = list(generator_links(G).values())
    seg = _weights.segmenter().predict if any(l.semantic for l in links) else None
    oracle = _weights.oracle() if any(l.attributes for l in links) else None
    n = 32 if quick else 300
    seeds = range(HELDOUT_SEEDS.start, HELDOUT_SEEDS.start + n)
    out = {"generator": DEFAULT_GENERATOR, "seeds": n, "psi": 1.0}
    out.update(link_metrics(G, links, seeds=seeds, segmenter=seg))
    base = _weights.generator(_weights.BASELINE_GENERATOR)
    out["baseline"] = link_metrics(base, links, seeds=seeds, segmenter=seg)
    for l in links:
        out[l.name]["mse_in_vs_baseline"] = round(out[l.name]["mse_in"] / max(out["baseline"][l.name]["mse_in"], 1e-12), 3)
    if oracle is not None:
        out["control"] = region_control(G, links, oracle, seeds=seeds)
        out["baseline"]["control"] = region_control(base, links, oracle, seeds=seeds)
        out["control_data"] = data_control(links, oracle, seeds=seeds)
    out["paper"] = PAPER
    return out
