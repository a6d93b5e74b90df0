"""LinkGAN's linkage on the 3D generator (the paper's "Arbitrary Region on EG3D"; docs/3d.md, "Metrics"): for every link
of the shipped linked tri-plane generator, mse_in / mse_out / leak_in / leak_out (x1e-3) averaged over fixed views, the
change of expected depth inside vs outside its region under its resample (depth_ratio = outside / inside), the same
regions and axes on the baseline trained for as many steps without links, the Fréchet distance of both against the
procedural heads (each face from its own view, features of the heads' part segmenter), how consistently the heads'
attribute oracle reads a face across views, and the render time of one view.
Targets (the project's, not the paper's numbers): ratio <= 0.15 and depth_ratio <= 0.2 for every link, fd_ratio <= 1.25,
every attribute read alike in >= 0.9 of a face's views, one view <= 150 ms. The heads' oracle is checked first on the
procedural heads themselves (`data_view_consistency`: the true attributes read in every view). While a 3D weight set
is missing (training/recipes/heads3d.sh makes them), the section says so and measures only what the others allow."""
from __future__ import annotations

from linkgan.data import HELDOUT_SEEDS

from . import _weights

LINKED, BASELINE, SEGMENTER = "heads3d64-linked", "heads3d64-baseline", "heads3d64-segmenter"
ORACLE = "heads3d64-oracle"
WEIGHTS = (LINKED, BASELINE, SEGMENTER, ORACLE)
HOW = "bash training/recipes/heads3d.sh all, then copy runs/exports/<name> to checkpoints/<name>"


def run(*, quick: bool = False) -> dict:
    from linkgan.hub import WeightsNotFoundError, resolve

    missing = []
    for name in WEIGHTS:
        try:
            resolve(name)
        except WeightsNotFoundError:
            missing.append(name)
    from linkgan import cameras as cams
    from linkgan.links import generator_links
    from linkgan.metrics3d import (frechet_distance_3d, heads_view_consistency, link_metrics_3d, metric_views,
                                   region_control_3d, render_ms, view_consistency)
    from linkgan.networks3d import TriplaneGenerator
    from linkgan.oracle import AttributeOracle
    from linkgan.segmenter import Segmenter

    out = {}
    if ORACLE not in missing:     # the data's own consistency needs only the oracle: is it a reader to trust?
        oracle = _weights.load(AttributeOracle, ORACLE, HOW).eval()
        n = 32 if quick else 300
        out["data_view_consistency"] = {
            "heads": n, "views": 9, "oracle": ORACLE,
            "agreement": heads_view_consistency(oracle.predict, seeds=HELDOUT_SEEDS[:n],
                                                views=metric_views(cams.DEFAULT_RANGE, 9))}
    if missing:
        return {"status": "no shipped 3D model", "missing": missing,
                "message": f"not every 3D weight set is shipped yet ({', '.join(missing)} missing), so only what "
                           f"the others allow is measured; make them with `{HOW}`", **out}

    G = _weights.load(TriplaneGenerator, LINKED, HOW)
    base = _weights.load(TriplaneGenerator, BASELINE, HOW)
    seg_net = _weights.load(Segmenter, SEGMENTER, HOW).eval()
    segmenter = seg_net.predict
    links = list(generator_links(G).values())
    n, views = (16, metric_views(G.config.camera_range, 3)) if quick else (200, metric_views(G.config.camera_range, 5))
    seeds = range(HELDOUT_SEEDS.start, HELDOUT_SEEDS.start + n)
    out.update({"generator": LINKED, "seeds": n, "views": [list(v) for v in views], "psi": 1.0})
    out["baseline"] = {}
    for g, target in ((G, out), (base, out["baseline"])):
        renders: dict = {}             # both metrics read the same faces: rendered once
        target.update(link_metrics_3d(g, links, seeds=seeds, views=views, segmenter=segmenter, renders=renders))
        for name, control in region_control_3d(g, links, oracle, seeds=seeds, views=views,   # the 2D section's
                                               renders=renders).items():                      # region control
            target[name]["control"] = control
    m = 100 if quick else 1000          # FD: generated seeds from 0, real heads the first held-out ones (as 2D quality)
    fd = frechet_distance_3d({"linked": G, "baseline": base}, seg_net, seeds=range(m),
                             real_seeds=HELDOUT_SEEDS[:m])
    out["quality"] = {"fd_linked": fd["linked"], "fd_baseline": fd["baseline"],
                      "fd_ratio": round(fd["linked"] / fd["baseline"], 3), "images": m,
                      "feature_space": f"{SEGMENTER} encoder (level means + deepest level 2x2)"}

    out["view_consistency"] = {name: view_consistency(g, oracle.predict, seeds=seeds,
                                                      views=metric_views(g.config.camera_range, 9))
                               for name, g in (("linked", G), ("baseline", base))}
    out["render_ms_per_view"] = round(render_ms(G, views=metric_views(G.config.camera_range, 9),
                                                runs=2 if quick else 10), 2)
    return out
