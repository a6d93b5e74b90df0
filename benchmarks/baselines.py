"""Latent-direction baselines (issue "editing methods the papers compare against"): GANSpace, SeFa, InterFaceGAN,
StyleSpace and ReSeFa-style directions of the default generator (checkpoints/<generator>-directions), judged with
the `styleclip` section's oracle protocol (linkgan.oracle.edit_score, toyfaces64-oracle) on the same faces
(seeds 7,000,000 + i, psi 0.7, const noise), beside a LinkGAN resample of the matching link.

An unsupervised direction has no target: per method and target (attribute, value) the direction, sign and strength
are picked on tuning faces (8,000,000 + i): the highest success among those keeping preservation >= 0.9 (else the
highest success x preservation), then scored on the benchmark faces. InterFaceGAN's boundaries are the only
directions made for a target; the others compete on what they happen to change. A LinkGAN resample moves the
link's axes to those of a donor face the oracle reads with the target value (a user picking a face to borrow from).
`table2`: LinkGAN's Table 2 (mse_in / mse_out x1e-3 inside / outside the eyes, mouth and hair links' regions); each
method's most local direction for the region (lowest mse_out / mse_in on tuning faces) at the strength whose
mse_in is nearest to the LinkGAN resample's, so that the rows compare the change outside at a like change inside.
latency_ms: one edit of one 64 px face incl. rendering (an Explore slider move), median, CPU; render_ms: the render
alone.
"""
from __future__ import annotations

import functools
import itertools

import torch

from linkgan.directions import METHODS, load_zoo_directions
from linkgan.oracle import edit_score

from . import _weights
from ._timing import median_ms

SEED0 = 7_000_000          # the styleclip section's benchmark faces
TUNE0 = 8_000_000          # tuning faces (picking direction, sign and strength)
PSI = 0.7
STRENGTHS = (1.0, 2.0, 4.0, 8.0, 16.0)  # in standard deviations of the direction (Directions.scales)
MATCH_STRENGTHS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 20.0)   # Table 2: searched to match LinkGAN's mse_in
RATIO_STRENGTH = 1.0                   # Table 2: the strength at which a method's most local direction is picked
PRESERVE = 0.9
TABLE2_REGIONS = ("eyes", "mouth", "hair")
LINK_OF = {"hair_color": "hair", "eye_color": "eyes"}           # the link a target's attribute lives in


class _CachedOracle:
    """The oracle with its probabilities remembered per image tensor (one read of each batch, however many
    targets edit_score is asked about)."""

    def __init__(self, oracle):
        self.oracle, self.config, self._cache = oracle, oracle.config, {}

    def probabilities(self, images):
        key = id(images)
        if key not in self._cache:
            self._cache[key] = (images, self.oracle.probabilities(images))    # the tensor kept: its id stays unique
        return self._cache[key][1]


def targets() -> list[tuple[str, str]]:
    """The styleclip zoo's targets (hair colours, a background, eye colours), so the sections compare."""
    from linkgan.styleclip import ZOO_PROMPTS
    return [(z.attribute, z.value) for z in ZOO_PROMPTS]


def _faces(G, seed0: int, n: int) -> torch.Tensor:
    return G.broadcast(G.map(G.z_from_seeds(range(seed0, seed0 + n)), psi=PSI))


def _candidates(dirs, k: int) -> list[int]:
    """The first k directions (each method's own order), all of those made for targets (InterFaceGAN)."""
    return list(range(len(dirs) if dirs.method == "interfacegan" else min(k, len(dirs))))


def _pick(scores: list[tuple[dict, tuple]]) -> tuple[dict, tuple]:
    ok = [s for s in scores if (s[0]["preservation"] or 0) >= PRESERVE and s[0]["success"] is not None]
    if ok:
        return max(ok, key=lambda s: s[0]["success"])
    return max(scores, key=lambda s: (s[0]["success"] or 0) * (s[0]["preservation"] or 0))


@torch.no_grad()
def _target_edits(G, dirs, oracle, tune, bench, k: int, strengths) -> dict:
    cached = _CachedOracle(oracle)
    before = G.synthesize(tune, noise_mode="const")
    signs = (1.0,) if dirs.method == "interfacegan" else (1.0, -1.0)
    tried = {}
    for idx, sign, s in itertools.product(_candidates(dirs, k), signs, strengths):
        after = dirs.render(G, tune, idx, sign * s)
        tried[(idx, sign * s)] = {t: edit_score(cached, before, after, *t) for t in targets()}
    bench_before = G.synthesize(bench, noise_mode="const")
    out = {}
    for t in targets():
        best, (idx, strength) = _pick([(v[t], key) for key, v in tried.items()])
        after = dirs.render(G, bench, idx, strength)
        out[f"{t[0]}={t[1]}"] = {"direction": dirs.label(idx), "index": idx, "strength": strength,
                                 "tuning_success": best["success"],
                                 **edit_score(oracle, bench_before, after, *t)}
    return out


@torch.no_grad()
def _linkgan_edits(G, oracle, bench, n_donors: int) -> dict:
    """A resample of the target's link towards donor faces (untruncated, as the app borrows) read as the value."""
    from linkgan.links import RESAMPLE_PSI, generator_links, resample

    links = generator_links(G)
    w_donor = G.map(G.z_from_seeds(range(TUNE0 + 10**6, TUNE0 + 10**6 + n_donors)), psi=RESAMPLE_PSI)
    reads = oracle.predict(G.synthesize(w_donor, noise_mode="const"))
    before = G.synthesize(bench, noise_mode="const")
    out = {}
    for attr, value in targets():
        link = links.get(LINK_OF.get(attr, ""))
        donors = [i for i, v in enumerate(reads[attr]) if v == value]
        if link is None or not donors:
            out[f"{attr}={value}"] = {"skipped": "no link for this attribute" if link is None else "no donor face"}
            continue
        w_new = w_donor[[donors[i % len(donors)] for i in range(len(bench))]]
        after = G.synthesize(resample(bench, w_new, [link]), noise_mode="const")
        out[f"{attr}={value}"] = {"link": link.name, "donors": len(donors), **edit_score(oracle, before, after, attr,
                                                                                          value)}
    return out


def _mse(x, y, m) -> tuple[float, float]:
    from linkgan.links import masked_mse
    d = (y - x).square()
    return 1e3 * float(masked_mse(d, m).mean()), 1e3 * float(masked_mse(d, 1 - m).mean())


@torch.no_grad()
def _table2(G, all_dirs, seg, tune, bench, k: int) -> dict:
    from linkgan.links import generator_links, region_masks, resample

    links = generator_links(G)
    out = {}
    for region in TABLE2_REGIONS:
        if region not in links:
            continue
        link = links[region]
        rows = {}
        faces = {}
        for name, ws, seed0 in (("tune", tune, TUNE0), ("bench", bench, SEED0)):
            x = G.synthesize(ws, noise_mode="const")
            w_new = G.map(G.z_from_seeds(range(seed0 + 10**9, seed0 + 10**9 + len(ws))), psi=PSI)
            y = G.synthesize(resample(ws[:, 0], w_new, [link]), noise_mode="const")
            m = region_masks([link], x, seg.predict)[:, 0]
            faces[name] = (ws, x, m, _mse(x, y, m))
        target_in = faces["tune"][3][0]
        mi, mo = faces["bench"][3]
        rows["linkgan"] = {"mse_in": round(mi, 2), "mse_out": round(mo, 2), "edit": "resample of the link"}
        ws_t, x_t, m_t, _ = faces["tune"]
        ws_b, x_b, m_b, _ = faces["bench"]
        for method, dirs in all_dirs.items():
            ratio = {}
            for i in _candidates(dirs, k):
                mse_in, mse_out = _mse(x_t, dirs.render(G, ws_t, i, RATIO_STRENGTH), m_t)
                ratio[i] = mse_out / max(mse_in, 1e-9)
            idx = min(ratio, key=ratio.get)
            strength = min(MATCH_STRENGTHS, key=lambda s: abs(_mse(x_t, dirs.render(G, ws_t, idx, s), m_t)[0]
                                                             - target_in))
            mi, mo = _mse(x_b, dirs.render(G, ws_b, idx, strength), m_b)
            rows[method] = {"mse_in": round(mi, 2), "mse_out": round(mo, 2), "direction": dirs.label(idx),
                            "strength": strength}
        out[region] = rows
    return out


@torch.no_grad()
def labeller_check(G, oracle, seg, n: int) -> dict:
    """How the part-colour labeller behind InterFaceGAN's boundaries reads: its accuracy on n procedural faces
    (HELDOUT_SEEDS, against the renderer's ground truth, where visible) and its agreement with the judging oracle
    on n generated faces (where both see the part)."""
    from linkgan.data import HELDOUT_SEEDS
    from linkgan.data.pool import render_faces, to_float
    from linkgan.directions import PartColourLabeller

    labeller = PartColourLabeller(seg)
    images, attrs = render_faces(HELDOUT_SEEDS[:n])
    read = labeller.read(to_float(images))
    out = {"accuracy_on_toy_faces": {}, "agreement_with_oracle": {}}
    for a, values in read.items():
        pairs = [(v, getattr(f, a)) for v, f in zip(values, attrs) if v is not None and a not in f.hidden_attributes()]
        out["accuracy_on_toy_faces"][a] = round(sum(v == t for v, t in pairs) / max(1, len(pairs)), 3)
    gen = G.synthesize(_faces(G, TUNE0 + 2 * 10**6, n), noise_mode="const")
    read, judged = labeller.read(gen), oracle.predict(gen)
    for a, values in read.items():
        pairs = [(v, judged[a][i]) for i, v in enumerate(values) if v is not None]
        out["agreement_with_oracle"][a] = round(sum(v == t for v, t in pairs) / max(1, len(pairs)), 3)
    out["faces"] = n
    return out


@functools.lru_cache(maxsize=1)
def load(generator: str | None = None):
    """(G, oracle, segmenter, {method: Directions}) of the default zoo; a missing piece says how to make it."""
    from linkgan.hub import DEFAULT_GENERATOR

    name = generator or DEFAULT_GENERATOR
    G = _weights.generator(name).eval().requires_grad_(False)
    return G, _weights.oracle(), _weights.segmenter().eval(), {m: load_zoo_directions(name, m) for m in METHODS}


def run(*, quick: bool = False) -> dict:
    G, oracle, seg, all_dirs = load()
    n_bench, n_tune, k, strengths, runs = (8, 8, 3, (2.0,), 5) if quick else (100, 32, 12, STRENGTHS, 20)
    bench, tune = _faces(G, SEED0, n_bench), _faces(G, TUNE0, n_tune)
    out: dict = {"seeds": f"{SEED0}..+{n_bench}", "tuning_seeds": f"{TUNE0}..+{n_tune}", "psi": PSI,
                 "oracle": "toyfaces64-oracle", "strengths": list(strengths), "candidates_per_method": k,
                 "targets": [f"{a}={v}" for a, v in targets()]}
    w1 = bench[:1]
    with torch.no_grad():       # the render alone: what an edit adds to it is the direction's own cost
        out["render_ms"] = round(median_ms(lambda: G.synthesize(w1, noise_mode="const"), runs=runs), 2)
    for method, dirs in all_dirs.items():
        edits = _target_edits(G, dirs, oracle, tune, bench, k, strengths)
        ok = [t for t, e in edits.items() if (e["success"] or 0) >= 0.8 and (e["preservation"] or 0) >= PRESERVE]
        out[method] = {"targets": edits, "passing": f"{len(ok)}/{len(edits)} (success >= 0.8 and preservation "
                                                    f">= {PRESERVE})",
                       "latency_ms": round(median_ms(lambda: dirs.render(G, w1, 0, 2.0), runs=runs), 2),
                       "compute_s": dirs.meta.get("compute_s"), "directions": len(dirs),
                       "named": [dirs.label(i) for i in range(min(len(dirs), 12)) if dirs.names[i]]}
    out["linkgan"] = {"targets": _linkgan_edits(G, oracle, bench, 64 if quick else 300)}
    out["table2"] = _table2(G, all_dirs, seg, tune, bench, k)
    out["interfacegan_labeller"] = labeller_check(G, oracle, seg, 16 if quick else 300)
    out["timing"] = (f"CPU fp32, {torch.get_num_threads()} thread(s), 64 px, one face per edit incl. rendering"
                     + (" (quick: fewer faces, candidates and strengths)" if quick else ""))
    return out
