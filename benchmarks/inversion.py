"""Inversion benchmark (docs/methods.md, "Inversion"; results: docs/inversion.md): reconstruction of held-out procedural
toy faces by the shipped encoder, by optimisation (StyleGAN2 projector's recipe, the app's 200 steps in W; the paper
runs 1000), the same in W+ (`optimize_wplus`: the reference in hybrid's own space) and hybrid (the encoder's W+ code
refined in W+, a quarter of those steps): PSNR, SSIM, LPIPS (VGG; the backbone is named, a random one is not comparable)
and CPU ms per image. Editability: LinkGAN's mse_out / mse_in (LinkGAN Table 2 protocol) on the hybrid codes against
sampled ones (lower is better), and a StyleCLIP global edit's success on both.
Needs the shipped generator and encoder: without them it raises "not trained yet: <name>".
Paper numbers (CelebA-HQ 1024, so only a loose reference): LPIPS e4e 0.20, optimisation 0.09 (228 s on a GPU)."""
from __future__ import annotations

import statistics
import time

import torch

from linkgan.data import HELDOUT_SEEDS

from . import _weights
from ._timing import median_ms

PAPER = {"encoder.lpips": 0.20, "optimize.lpips": 0.09, "optimize.ms_per_image": 228_000.0}


def _load_models():
    """(G, E): the shipped default generator and encoder; a missing one raises "not trained yet: <name>"."""
    from linkgan.encoder import Encoder
    from linkgan.hub import DEFAULT_ENCODER, DEFAULT_GENERATOR, WeightsNotFoundError

    name = DEFAULT_GENERATOR
    try:
        G = _weights.generator(name)
        name = DEFAULT_ENCODER
        E = _weights.load(Encoder, name, f"python training/train_encoder.py --out runs/encoder64, then copy "
                                         f"runs/encoder64/encoder to checkpoints/{name}")
    except WeightsNotFoundError as e:
        raise WeightsNotFoundError(f"not trained yet: {name}. {e}") from e
    return G, E


def _faces(n: int, size: int) -> torch.Tensor:
    from linkgan.data import image_to_tensor, toy_face
    return torch.stack([image_to_tensor(toy_face(HELDOUT_SEEDS.start + i, size=size).image) for i in range(n)])


def _mean_ratio(G, w: torch.Tensor, links, segmenter) -> dict[str, float]:
    """mse_out / mse_in per link (and their mean) of resampling each link of codes w (W or W+) towards held-out
    samples."""
    from linkgan.links import editing_precision

    synth = lambda w_: G.synthesize(w_, noise_mode="const")  # noqa: E731   W (B, w_dim) or W+ (B, num_ws, w_dim)
    seeds = [HELDOUT_SEEDS.start + 10**6 + i for i in range(len(w))]
    w_new = G.map(G.z_from_seeds(seeds))
    out = {}
    for link in links:
        m = editing_precision(synth, w, w_new, link, segmenter=segmenter)
        out[link.name] = round(m["mse_out"] / max(m["mse_in"], 1e-12), 4)
    out["mean"] = round(statistics.fmean(out.values()), 4) if out else float("nan")
    return out


def run(*, quick: bool = False) -> dict:
    from linkgan.image_metrics import psnr, ssim
    from linkgan.inversion import invert
    from linkgan.studio import PHOTO_STEPS
    from linkgan.links import generator_links
    from linkgan.perceptual import load_lpips

    G, E = _load_models()
    lp = load_lpips("vgg")
    n, batch = (8, 8) if quick else (100, 25)
    full, part = (100, 25) if quick else (PHOTO_STEPS["optimize"], PHOTO_STEPS["hybrid"])   # the app's defaults
    runs = {"encoder": ("encoder", 0, {}), "optimize": ("optimize", full, {}),                # entry: method, steps, kw
            "optimize_wplus": ("optimize", full, {"space": "w+"}), "hybrid": ("hybrid", part, {})}
    faces = _faces(n, G.config.resolution)
    out: dict = {"faces": n, "heldout_seeds": f"{HELDOUT_SEEDS.start}..+{n}", "lpips_backbone": lp.backbone_name}
    codes = {}
    for entry, (method, k, kw) in runs.items():
        rows, ws, wall = [], [], 0.0
        for i in range(0, n, batch):
            x = faces[i:i + batch]
            t0 = time.perf_counter()                   # the inversion alone, not the metrics below
            res = invert(G, x, method=method, encoder=E, steps=k or None, lpips=lp, **kw)
            wall += time.perf_counter() - t0
            with torch.no_grad():
                rows.append(torch.stack([psnr(res.images, x), ssim(res.images, x), lp(res.images, x)], 1))
            ws.append(res.ws)
        m = torch.cat(rows).mean(0).tolist()
        out[entry] = {"psnr": round(m[0], 3), "ssim": round(m[1], 4), "lpips": round(m[2], 4),
                      "lpips_backbone": lp.backbone_name, "ms_per_image": round(1000 * wall / n, 1), "steps": k,
                      "space": res.space}
        codes[entry] = torch.cat(ws)
    out["hybrid_gap_db"] = {ref: round(out[ref]["psnr"] - out["hybrid"]["psnr"], 3)
                            for ref in ("optimize", "optimize_wplus")}    # > 0: hybrid below the reference
    one = faces[:1]                                    # one upload at a time, as in the app
    out["encoder"]["ms_per_image_bs1"] = round(median_ms(lambda: invert(G, one, method="encoder", encoder=E),
                                                         runs=2 if quick else 19), 1)
    links = list(generator_links(G).values())
    if links:
        seg = _weights.segmenter().predict if any(l.semantic for l in links) else None
        with torch.no_grad():
            sampled = G.map(G.z_from_seeds([HELDOUT_SEEDS.start + i for i in range(n)]))
            ratios = {entry: _mean_ratio(G, ws, links, seg) for entry, ws in codes.items()}
            inv, smp = ratios["hybrid"], _mean_ratio(G, sampled, links, seg)
        out["editability"] = {"ratio_inverted": inv["mean"], "ratio_sampled": smp["mean"], "codes": "hybrid (W+)",
                              "per_link_inverted": inv, "per_link_sampled": smp,
                              "ratio_by_method": {entry: r["mean"] for entry, r in ratios.items()}}
    from linkgan.hub import DEFAULT_GENERATOR
    from .styleclip import global_success
    sampled = G.map(G.z_from_seeds([HELDOUT_SEEDS.start + i for i in range(n)]), psi=0.7)
    out.setdefault("editability", {})["styleclip"] = {
        "inverted": global_success(G, DEFAULT_GENERATOR, codes["hybrid"]),
        "sampled": global_success(G, DEFAULT_GENERATOR, G.broadcast(sampled)),
        "note": "global direction on the hybrid W+ codes of the held-out faces vs on sampled codes (psi 0.7)"}
    out["timing"] = (f"CPU fp32, {torch.get_num_threads()} threads, wall time of the inversion (code and image, no "
                     f"metrics) / images, batches of {batch}"
                     + (" (quick: fewer faces and steps)" if quick else ""))
    out["paper"] = PAPER
    return out
