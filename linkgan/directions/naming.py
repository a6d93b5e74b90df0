"""Names for latent directions from what the attribute oracle reads (GANSpace names its components by hand after
inspection, Sec. 3.1; here the oracle does the inspecting): 'comp 3: hair colour' when moving direction 3 changes
the oracle's reading of the hair colour on more faces than any other attribute.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import torch

MIN_SHARE = 0.2     # an attribute names a direction only if its reading changes on at least this share of faces


def pretty(attribute: str) -> str:
    """'hair_color' -> 'hair colour'."""
    return attribute.replace("_", " ").replace("color", "colour")


@torch.no_grad()
def direction_effects(G, dirs, oracle, ws: torch.Tensor, *, strength: float = 3.0,
                      indices: Sequence[int] | None = None) -> list[dict]:
    """For each direction (indices: default all) and sign, how the oracle's readings of faces ws (B, num_ws, w_dim)
    change at +-strength: {"index", "attribute" (changed on most faces, or None), "share" (of the faces),
    "plus" / "minus" (the value it most often turns into on that side), "changed" ({attribute: share})}."""
    from ..oracle import _hidden

    before = oracle.predict(G.synthesize(ws, noise_mode="const"))
    out = []
    for k in (range(len(dirs)) if indices is None else indices):
        changed: Counter = Counter()
        seen: Counter = Counter()
        turned = {"plus": {}, "minus": {}}
        for side, sign in (("plus", 1.0), ("minus", -1.0)):
            after = oracle.predict(dirs.render(G, ws, k, sign * strength))
            for i in range(len(ws)):
                hb, ha = _hidden(before, i), _hidden(after, i)
                for a in before:
                    if a in hb or a in ha:
                        continue
                    seen[a] += 1
                    if before[a][i] != after[a][i]:
                        changed[a] += 1
                        turned[side].setdefault(a, Counter())[after[a][i]] += 1
        shares = {a: round(changed[a] / seen[a], 3) for a in seen if changed[a]}
        attr = max(shares, key=shares.get) if shares else None
        share = shares.get(attr, 0.0)
        if share < MIN_SHARE:
            attr = None
        pick = lambda side: turned[side][attr].most_common(1)[0][0] if attr and attr in turned[side] else None  # noqa: E731
        out.append({"index": int(k), "attribute": attr, "share": share, "plus": pick("plus"), "minus": pick("minus"),
                    "changed": dict(sorted(shares.items(), key=lambda kv: -kv[1]))})
    return out


def effect_name(effect: dict) -> str:
    """'hair colour' (or 'hair colour: → blond / → black' with the values each side turns it into), '' if none."""
    if effect["attribute"] is None:
        return ""
    ends = [f"{s} {effect[k]}" for k, s in (("plus", "+"), ("minus", "−")) if effect[k]]
    return pretty(effect["attribute"]) + (f" ({', '.join(ends)})" if ends else "")


def name_directions(G, dirs, oracle, *, seeds: Sequence[int] = range(9_000_000, 9_000_032), psi: float = 0.7,
                    strength: float = 3.0, indices: Sequence[int] | None = None) -> list[str]:
    """A name per direction (indices: default all) from the oracle's readings of the faces of `seeds`, stored in
    dirs.names: what the oracle sees change, after what a direction was made for where it was (meta "made_for":
    StyleSpace's part, ReSeFa's region, InterFaceGAN's target; 'hair: hair colour (+ red)'); a direction the oracle
    sees change nothing keeps its name."""
    ws = G.broadcast(G.map(G.z_from_seeds(list(seeds)), psi=psi))
    effects = direction_effects(G, dirs, oracle, ws, strength=strength, indices=indices)
    made_for = dirs.meta.get("made_for") or [""] * len(dirs)
    for e in effects:
        name, region = effect_name(e), made_for[e["index"]]
        if name:
            dirs.names[e["index"]] = f"{region}: {name}" if region else name
    return [dirs.label(e["index"]) for e in effects]
