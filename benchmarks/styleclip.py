"""StyleCLIP benchmark (docs/methods.md, "StyleCLIP"; results: docs/text-editing.md): the three text-editing methods on
the default zoo (toyfaces64-linked + toyfaces-clip + the shipped mappers and global directions), judged by the attribute
oracle (toyfaces64-oracle), which never saw CLIP.

Per method and prompt, over seeds the mappers were not trained on (`SEED0 + i`, psi 0.7, const noise):
- success: among the seeds whose image lacks the target value before the edit (as the oracle sees it, and where the
  attribute is visible), the fraction that has it after;
- preservation: the fraction of the other attributes (visible before and after, read with confidence >= 0.9
  before: linkgan.oracle.PRESERVE_CONFIDENCE) the oracle reads the same after, and `changed`: which of them changed
  on how many faces; `preservation_all` counts every visible read, however unsure;
- `pixel_exact` per prompt: the same scores for a pixel-exact recolouring of the prompt's region (the segmenter's
  parts painted the named colour, shading kept, nothing else touched): what an ideal edit scores with this oracle;
- latency_ms: CPU wall time of one edit of one 64 px image (text embedding cached; `text_ms` is a new prompt's
  first embedding), median of several; for `optimize` per step and per edit.
`oracle_confidence`: the oracle's median top-class probability per attribute on the unedited faces.
Plus `directions_preprocess_s` / `mapper_train_s` (from the shipped files' metadata) and `table2`: LinkGAN's
Table 2 (mse_in / mse_out x1e-3 inside / outside a link's region) for a LinkGAN resample of that link versus a
global-direction edit and a mapper edit aimed at the same part.
Paper timings (StyleCLIP Table 1, one GPU): optimization 98 s, mapper 75 ms, global directions 72 ms per edit.
"""
from __future__ import annotations

import functools
import time
from typing import NamedTuple

import torch

from linkgan.oracle import edit_score, oracle_confidence
from linkgan.styleclip import (TEXT_EDIT_DEFAULTS, ZOO_PROMPTS, edit_global, edit_mapper, edit_optimize,
                               neutral_choices, optimize_settings, tuned_presets)
from linkgan.styles import render_with_offset

from . import _weights
from ._timing import median_ms

PAPER = {"optimize.latency_ms": 98_000.0, "mapper.latency_ms": 75.0, "global.latency_ms": 72.0,
         "hardware": "one GPU (StyleGAN2 1024 px, StyleCLIP Table 1)"}
SEED0 = 7_000_000          # benchmark faces: G's seeds SEED0 + i (mappers train on torch.randn draws of seed 0)
NEUTRAL = "a face"         # the generic neutral text (a tuned prompt may use alternatives instead: its "neutral")

MAPPER_STRENGTH = TEXT_EDIT_DEFAULTS.mapper_strength    # the training strength
OPT = optimize_settings("hair")     # what the app runs when the edit is kept inside a region (the same for every one)
# Table 2: (link, global-direction target, mapper aimed at the same part or None)
# The eyes: eye colour, the zoo's eye edit (the toy CLIP reads eye state near chance). No mapper for the mouth: the
# CLIP reads mouths near chance too, and a mapper trained for "a smiling face" (1000 steps, all groups) reached
# oracle success 0.0 on tuning seeds, so none is shipped (docs/text-editing.md).
TABLE2 = [("eyes", "a face with blue eyes", "blue_eyes"), ("mouth", "a smiling face", None),
          ("hair", "a face with purple hair", "purple_hair")]
TABLE2_GLOBAL = (5.0, 1.0, 20)     # alpha, beta, min_channels for Table 2 targets outside the zoo: the top 20 channels
IRIS_CHROMA = 0.2         # max - min of RGB in [-1, 1]: an iris pixel of pixel_exact (white, pupil and lids are grey)


def load_zoo(generator: str | None = None):
    """(G, clip, oracle, directions, prompts, {mapper name: mapper}) of the default zoo (prompts: see load_judges);
    a missing piece raises and says how to make it."""
    from linkgan.hub import DEFAULT_GENERATOR
    from linkgan.styleclip import load_mapper

    name = generator or DEFAULT_GENERATOR
    G = _weights.generator(name).eval().requires_grad_(False)
    clip, oracle, dirs, prompts = load_judges(name)
    zoo = [z.name for z in ZOO_PROMPTS]
    names = zoo + [t[2] for t in TABLE2 if t[2] and t[2] not in zoo]
    mappers = {n: load_mapper(n, name, device="cpu").eval().requires_grad_(False) for n in names}
    return G, clip, oracle, dirs, prompts, mappers


class TunedPrompt(NamedTuple):
    """A zoo prompt with its global-direction settings tuned for one generator (training/tune_directions.py)."""
    name: str               # the mapper's name
    target: str
    attribute: str          # as the oracle reads it ...
    value: str              # ... and the value the edit should set
    alpha: float
    beta: float
    neutral: str            # a text, or alternatives separated by '|' (CLIP picks one per face)
    channels: int | None    # min_channels: the tuned number of channels (None: beta alone)

    @property
    def settings(self) -> dict:
        """The keywords of linkgan.styleclip.edit_global."""
        return {"neutral": self.neutral, "alpha": self.alpha, "beta": self.beta, "min_channels": self.channels or 0}


@functools.lru_cache(maxsize=2)
def load_judges(generator: str):
    """(clip, oracle, global directions of `generator`, its prompts): what a global-direction edit and its scoring
    need. The prompts are TunedPrompts: the zoo's prompts with the neutral text, alpha, beta and channels tuned for
    this generator (training/tune_directions.py, on seeds the benchmark does not use)."""
    from linkgan.clip import CLIPAdapter
    from linkgan.styleclip import load_directions

    clip = CLIPAdapter.load("toyfaces-clip", device="cpu")
    oracle = _weights.oracle()
    tuned = tuned_presets(generator)
    missing = [z.name for z in ZOO_PROMPTS if z.name not in tuned]
    if missing:
        raise ValueError(f"no tuned global-direction settings for {missing} of {generator}: run "
                         f"python training/tune_directions.py --generator {generator}")
    prompts = [TunedPrompt(z.name, z.target, z.attribute, z.value, t.alpha, t.beta, t.neutral, t.min_channels or None)
               for z in ZOO_PROMPTS for t in [tuned[z.name]]]
    return clip, oracle, load_directions(generator), prompts


def _neutrals_read(picked: list[str], neutral: str) -> dict:
    """How many faces CLIP read as each alternative of `neutral` (picked: one per face; {} for a single text)."""
    choices = neutral_choices(neutral)
    return {t: picked.count(t) for t in choices if picked.count(t)} if len(choices) > 1 else {}


def global_success(G, generator: str, ws: torch.Tensor, prompt: int = 0) -> dict:
    """success / preservation of the global-direction edit of the generator's prompt number `prompt` (load_judges)
    applied to codes ws."""
    clip, oracle, dirs, prompts = load_judges(generator)
    p = prompts[prompt]
    with torch.no_grad():
        before = G.synthesize(ws, noise_mode="const")
    after = global_images(G, dirs, clip, ws, p.target, **p.settings)
    return {"method": "global", "target": p.target, "neutral": p.neutral, "alpha": p.alpha, "beta": p.beta,
            "channels": p.channels, **edit_score(oracle, before, after, p.attribute, p.value)}


@torch.no_grad()
def global_images(G, dirs, clip, ws: torch.Tensor, target: str, **settings) -> torch.Tensor:
    """Images of ws after linkgan.styleclip.edit_global towards target (settings: its keywords)."""
    return render_with_offset(G, ws, edit_global(G, clip, dirs, ws, target, **settings).offset)


@torch.no_grad()
def mapper_edit(G, mapper, ws: torch.Tensor, strength: float = MAPPER_STRENGTH):
    return G.synthesize(edit_mapper(mapper, ws, strength), noise_mode="const")


@functools.lru_cache(maxsize=1)
def _segmenter():
    return _weights.segmenter().eval()


def optimize_edit(G, clip, ws: torch.Tensor, target: str, steps: int, region: str):
    """Every step is run: a batch would stop early on its mean loss, not face by face as in the app."""
    return edit_optimize(G, clip, ws, target, region=region, segmenter=_segmenter(), steps=steps,
                         patience=None).images


def pixel_exact(images: torch.Tensor, attribute: str, value: str, region: str) -> torch.Tensor:
    """The ideal colour edit: the region's parts (as the segmenter reads `images`) painted the named colour of the
    toy-faces renderer, each pixel keeping its offset from the region's mean brightness; nothing else touched. For
    eye colour only the iris is painted: the coloured pixels of the eyes (chroma above IRIS_CHROMA), not the white
    and the pupil."""
    from linkgan.data.attributes import BACKGROUND_RGB, EYE_RGB, HAIR_RGB, SKIN_RGB
    from linkgan.styleclip import region_mask

    rgb = {"hair_color": HAIR_RGB, "background": BACKGROUND_RGB, "skin_tone": SKIN_RGB,
           "eye_color": EYE_RGB}[attribute][value]
    m = region_mask(_segmenter().predict(images), region)
    if attribute == "eye_color":
        m = m * (images.amax(1, keepdim=True) - images.amin(1, keepdim=True) > IRIS_CHROMA).float()
    colour = torch.tensor(rgb, dtype=images.dtype).view(1, 3, 1, 1) / 127.5 - 1
    lum = images.mean(1, keepdim=True)
    mean = (lum * m).sum((2, 3), keepdim=True) / m.sum((2, 3), keepdim=True).clamp(min=1)
    return images * (1 - m) + (colour + lum - mean).clamp(-1, 1) * m


def _table2(G, clip, dirs, mappers, prompts: list[tuple], ws: torch.Tensor, seeds: list[int]) -> dict:
    from linkgan.links import generator_links, masked_mse, region_masks, resample

    links = generator_links(G)
    seg = _weights.segmenter().predict if any(l.semantic for l in links.values()) else None
    out = {}
    with torch.no_grad():
        x = G.synthesize(ws, noise_mode="const")
        w_new = G.map(G.z_from_seeds([s + 10**9 for s in seeds]), psi=0.7)
    for link_name, target, mapper_name in TABLE2:
        if link_name not in links:
            continue
        link = links[link_name]
        m = region_masks([link], x, seg)[:, 0]
        with torch.no_grad():
            edits = {"linkgan": G.synthesize(resample(ws[:, 0], w_new, [link]), noise_mode="const"),   # ws: W codes
                     "global": _table2_global(G, dirs, clip, ws, target, prompts)}
            if mapper_name in mappers:
                edits["mapper"] = mapper_edit(G, mappers[mapper_name], ws)
        row = {}
        for method, y in edits.items():
            d = (y - x).square()
            row[method] = {"mse_in": round(1e3 * float(masked_mse(d, m).mean()), 2),
                           "mse_out": round(1e3 * float(masked_mse(d, 1 - m).mean()), 2)}
        out[link_name] = {"target": target, "mapper_name": mapper_name,
                          "global_params": _table2_params(target, prompts), **row}
    return out


def _table2_params(target: str, prompts: list[TunedPrompt]) -> dict:
    """The global edit of a Table 2 target: the zoo's tuned one, or TABLE2_GLOBAL from "a face"."""
    p = next((p for p in prompts if p.target == target), None)
    if p is not None:
        return p.settings
    return {"neutral": NEUTRAL, **dict(zip(("alpha", "beta", "min_channels"), TABLE2_GLOBAL))}


def _table2_global(G, dirs, clip, ws, target: str, prompts: list[TunedPrompt]) -> torch.Tensor:
    return global_images(G, dirs, clip, ws, target, **_table2_params(target, prompts))


def run(*, quick: bool = False) -> dict:
    G, clip, oracle, dirs, prompts, mappers = load_zoo()
    n, n_opt, steps, n_time = (8, 2, 3, 3) if quick else (100, 100, OPT["steps"], 20)
    seeds = [SEED0 + i for i in range(n)]
    with torch.no_grad():
        ws = G.broadcast(G.map(G.z_from_seeds(seeds), psi=0.7))
        before = G.synthesize(ws, noise_mode="const")
    out: dict = {"seeds": f"{SEED0}..+{n} (optimize: first {n_opt})", "psi": 0.7,
                 "oracle": "toyfaces64-oracle", "clip": clip.name,
                 "oracle_confidence": oracle_confidence(oracle, before)}
    methods = {"global": {"prompts": {}}, "mapper": {"prompts": {}, "strength": MAPPER_STRENGTH},
               "optimize": {"prompts": {}, **OPT, "steps": steps, "kept_inside": "the prompt's region"}}
    region = {z.name: z.region for z in ZOO_PROMPTS}
    pixel = {}
    for p in prompts:
        name, target, attr, value = p.name, p.target, p.attribute, p.value
        pixel[name] = {"target": target, **edit_score(oracle, before, pixel_exact(before, attr, value, region[name]),
                                                      attr, value)}
        edit = edit_global(G, clip, dirs, ws, target, **p.settings)
        with torch.no_grad():
            after = render_with_offset(G, ws, edit.offset)
        read = _neutrals_read(edit.neutrals, p.neutral)
        methods["global"]["prompts"][name] = {"target": target, "neutral": p.neutral, "alpha": p.alpha,
                                              "beta": p.beta, "channels": p.channels,
                                              **({"neutrals_read": read} if read else {}),
                                              **edit_score(oracle, before, after, attr, value)}
        after = mapper_edit(G, mappers[name], ws)
        methods["mapper"]["prompts"][name] = {"target": target, **edit_score(oracle, before, after, attr, value)}
        after = optimize_edit(G, clip, ws[:n_opt], target, steps, region[name])
        methods["optimize"]["prompts"][name] = {"target": target,
                                                **edit_score(oracle, before[:n_opt], after, attr, value)}

    name, target = prompts[0].name, prompts[0].target
    w1 = ws[:1]
    for p in prompts:                   # warm the text cache: latency is per edit of a known text
        for text in [p.target, *neutral_choices(p.neutral)]:
            clip.text_embedding(text)
    methods["global"]["latency_ms"] = round(median_ms(
        lambda: global_images(G, dirs, clip, w1, prompts[0].target, **{**prompts[0].settings, "neutral": NEUTRAL}),
        runs=n_time), 2)
    picking = next((p for p in prompts if len(neutral_choices(p.neutral)) > 1), None)
    if picking is not None:           # + CLIP reading the face to pick its neutral text
        methods["global"]["latency_ms_picked_neutral"] = round(median_ms(
            lambda: global_images(G, dirs, clip, w1, picking.target, **picking.settings), runs=n_time), 2)
    methods["mapper"]["latency_ms"] = round(median_ms(lambda: mapper_edit(G, mappers[name], w1), runs=n_time), 2)
    t0 = time.perf_counter()
    optimize_edit(G, clip, w1, target, steps, region[name])
    per_edit = 1000 * (time.perf_counter() - t0)
    methods["optimize"].update(latency_ms=round(per_edit, 1), latency_ms_per_step=round(per_edit / steps, 2))

    def new_text():
        clip._text_cache.clear()
        clip.text_embedding(target)
    methods["global"]["text_ms"] = round(median_ms(new_text, runs=max(1, n_time // 4)), 2)
    for m in methods.values():
        ok = [p for p in m["prompts"].values() if (p["success"] or 0) >= 0.8 and (p["preservation"] or 0) >= 0.9]
        m["prompts_passing"] = f"{len(ok)}/{len(m['prompts'])} (success >= 0.8 and preservation >= 0.9)"
    out.update(methods)
    out["pixel_exact"] = pixel
    out.update(_preprocess_time(G, clip, dirs, quick))
    out["mapper_train_s"] = {k: _mapper_meta(v).get("wall_s") for k, v in mappers.items()}
    out["mapper_train_steps"] = {k: _mapper_meta(v).get("steps_done") for k, v in mappers.items()}
    out["table2"] = _table2(G, clip, dirs, mappers, prompts, ws, seeds)
    out["timing"] = (f"CPU fp32, {torch.get_num_threads()} thread(s), 64 px, one image per edit incl. rendering"
                     + (" (quick: fewer seeds and steps)" if quick else ""))
    out["paper"] = PAPER
    return out


def _preprocess_time(G, clip, dirs, quick: bool) -> dict:
    """Global-direction preprocessing time for the shipped settings, measured here: the style statistics over
    n_stats codes, plus the relevance of a few images times the shipped number of images (each image costs the
    same: two renders per channel)."""
    from linkgan.styleclip import channel_relevance, compute_style_stats

    n_stats, n_images = int(dirs.meta.get("n_stats", 100_000)), int(dirs.meta.get("n_images", 100))
    probe = 1 if quick else 2
    t0 = time.perf_counter()
    stats = compute_style_stats(G, n_stats // 10 if quick else n_stats, dirs.meta.get("psi", 0.7))
    stats_s = (time.perf_counter() - t0) * (10 if quick else 1)
    t0 = time.perf_counter()
    channel_relevance(G, clip, stats, probe)
    per_image = (time.perf_counter() - t0) / probe
    return {"directions_preprocess_s": round(stats_s + per_image * n_images, 1),
            "directions_preprocess": f"{n_stats} codes for the statistics ({stats_s:.1f} s) + {n_images} images x "
                                     f"{per_image:.1f} s of relevance (timed on {probe})"}


def _mapper_meta(mapper) -> dict:
    return getattr(mapper, "metadata", None) or {}
