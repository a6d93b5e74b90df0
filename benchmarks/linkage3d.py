"""LinkGAN's linkage on the 3D generator (the paper's "Arbitrary Region on EG3D"; docs/3d.md, "Metrics"): for every link
of the shipped linked tri-plane generator, mse_in / mse_out / leak_in / leak_out (x1e-3) averaged over fixed views, the
change of expected depth inside vs outside its region under its resample (depth_ratio = outside / inside), the same
regions and axes on the baseline trained for as many steps without links, and the render time of one view.
Targets (the issue's acceptance, not the paper's numbers): ratio <= 0.15 and depth_ratio <= 0.2 for every link, one view
<= 150 ms. Until the 3D weight sets are trained and exported (training/recipes/heads3d.sh), the section says so and
measures nothing."""
from __future__ import annotations

from linkgan.data import HELDOUT_SEEDS

from . import _weights

LINKED, BASELINE, SEGMENTER = "heads3d64-linked", "heads3d64-baseline", "heads3d64-segmenter"
WEIGHTS = (LINKED, BASELINE, SEGMENTER)
HOW = "bash training/recipes/heads3d.sh all, then copy runs/exports/<name> to checkpoints/<name>"


def run(*, quick: bool = False) -> dict:
    from linkgan.hub import WeightsNotFoundError, resolve

    missing = []
    for name in WEIGHTS:
        try:
            resolve(name)
        except WeightsNotFoundError:
            missing.append(name)
    if missing:
        return {"status": "no shipped 3D model", "missing": missing,
                "message": f"no 3D weight sets are shipped yet ({', '.join(missing)} missing), so nothing is measured; "
                           f"make them with `{HOW}`"}

    from linkgan.links import generator_links
    from linkgan.metrics3d import link_metrics_3d, metric_views, render_ms
    from linkgan.networks3d import TriplaneGenerator
    from linkgan.segmenter import Segmenter

    G = _weights.load(TriplaneGenerator, LINKED, HOW)
    base = _weights.load(TriplaneGenerator, BASELINE, HOW)
    segmenter = _weights.load(Segmenter, SEGMENTER, HOW).eval().predict
    links = list(generator_links(G).values())
    n, views = (16, metric_views(G.config.camera_range, 3)) if quick else (200, metric_views(G.config.camera_range, 5))
    seeds = range(HELDOUT_SEEDS.start, HELDOUT_SEEDS.start + n)
    out = {"generator": LINKED, "seeds": n, "views": [list(v) for v in views], "psi": 1.0}
    out.update(link_metrics_3d(G, links, seeds=seeds, views=views, segmenter=segmenter))
    out["baseline"] = link_metrics_3d(base, links, seeds=seeds, views=views, segmenter=segmenter)
    out["render_ms_per_view"] = round(render_ms(G, views=metric_views(G.config.camera_range, 9),
                                                runs=2 if quick else 10), 2)
    return out
