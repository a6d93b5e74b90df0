"""Region control of LinkGAN links, read in content rather than pixels (a project metric beside LinkGAN Sec. 4's
masked MSE): does resampling a link's axes change what a person sees in its region (eye colour, open or closed,
hair style), and nothing else? A region that stops varying passes the pixel metrics, since nothing changes
anywhere; it fails this one.

For each link with declared region attributes (`Link.attributes`), an attribute oracle reads the faces of W codes
before and after a resample towards another face's w (psi 1 by default: the whole distribution):
    linked    share of faces whose region attribute changes when the link's axes are resampled  (ideal: natural)
    unlinked  the same when every other axis is resampled                                      (ideal: 0)
    elsewhere share of the other attributes that change under the link's resample              (ideal: 0)
    natural   how often two random procedural faces differ in the attribute (the data's rate, 1 - sum p^2)
An attribute counts in a pair of images only where the oracle sees it in both (closed eyes hide their colour) and
read it with top-class probability >= `linkgan.oracle.PRESERVE_CONFIDENCE` before (the judge of the text edits:
an ambiguous read flips under any change of the image); `elsewhere_all` counts every visible read.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from .data import ATTRIBUTES
from .data.attributes import ATTRIBUTE_PROBS, hidden_in_reading
from .links import Link
from .oracle import PRESERVE_CONFIDENCE


def natural_rate(attribute: str) -> float:
    """Probability that two independent procedural faces differ in `attribute` (1 - sum of squared shares)."""
    n = len(ATTRIBUTES[attribute])
    probs = ATTRIBUTE_PROBS.get(attribute, (1.0 / n,) * n)
    return 1.0 - sum(p * p for p in probs)


def _read(oracle, images: torch.Tensor):
    """The oracle's class names per attribute, whether each read is confident, and the attributes hidden in each
    image by that reading."""
    names = oracle.config.attributes
    probs = oracle.probabilities(images)
    pred = {k: [names[k][i] for i in p.argmax(1).tolist()] for k, p in probs.items()}
    sure = {k: (p.max(1).values >= PRESERVE_CONFIDENCE).tolist() for k, p in probs.items()}
    hidden = [hidden_in_reading({k: v[i] for k, v in pred.items()}) for i in range(len(images))]
    return pred, sure, hidden


def _changes(before, after, attributes: Sequence[str], *, confident: bool = True) -> dict[str, tuple[int, int]]:
    """(changed, counted) per attribute over image pairs where the attribute is visible in both (and, with
    `confident`, read confidently before)."""
    (pb, sb, hb), (pa, _, ha) = before, after
    out = {}
    for k in attributes:
        seen = [i for i in range(len(hb)) if k not in hb[i] and k not in ha[i] and (sb[k][i] or not confident)]
        out[k] = (sum(pb[k][i] != pa[k][i] for i in seen), len(seen))
    return out


@torch.no_grad()
def control_counts(synthesize: Callable[[torch.Tensor], torch.Tensor], w: torch.Tensor, w_new: torch.Tensor,
                   link: Link, oracle, *, before=None) -> dict[str, dict[str, tuple[int, int]]]:
    """(changed, counted) per attribute for one batch of W codes w (B, w_dim) resampled towards w_new (B, w_dim):
    "linked" and "unlinked" over the link's region attributes, "elsewhere" over every other attribute. before: the
    oracle's reading of synthesize(w) when the caller has it (several links of the same faces)."""
    _check_attributes(link, oracle)
    axes = link.axis_mask(w.shape[-1]).to(w.device)
    x = _read(oracle, synthesize(w)) if before is None else before
    return _count(x, _read(oracle, synthesize(torch.where(axes, w_new, w))),
                  _read(oracle, synthesize(torch.where(axes, w, w_new))), link, oracle)


def _check_attributes(link: Link, oracle) -> None:
    if not link.attributes:
        raise ValueError(f"link {link.name!r} declares no region attributes: give its spec \"attributes\"")
    unknown = [a for a in link.attributes if a not in oracle.config.attributes]
    if unknown:
        raise ValueError(f"link {link.name!r}: the oracle does not read {unknown}")


def _count(x, y_linked, y_unlinked, link: Link, oracle) -> dict[str, dict[str, tuple[int, int]]]:
    """control_counts from the oracle's readings of the faces, their link resample and their other axes' one."""
    others = [a for a in oracle.config.attributes if a not in link.attributes]
    return {"linked": _changes(x, y_linked, link.attributes), "unlinked": _changes(x, y_unlinked, link.attributes),
            "elsewhere": _changes(x, y_linked, others),
            "elsewhere_all": _changes(x, y_linked, others, confident=False)}


def summarize(counts: dict[str, dict[str, tuple[int, int]]], link: Link) -> dict:
    """Rates from summed control_counts: linked / unlinked / natural per region attribute, elsewhere overall (and
    per attribute that changed), plus linked_vs_natural (the smallest linked / natural over the attributes)."""
    rate = lambda c, n: round(c / n, 3) if n else None  # noqa: E731
    linked = {k: rate(*v) for k, v in counts["linked"].items()}
    natural = {k: round(natural_rate(k), 3) for k in link.attributes}
    pooled = {kind: rate(sum(c for c, _ in counts[kind].values()), sum(n for _, n in counts[kind].values()))
              for kind in ("elsewhere", "elsewhere_all")}
    ratios = [linked[k] / natural[k] for k in link.attributes if linked[k] is not None and natural[k] > 0]
    return {"linked": linked, "unlinked": {k: rate(*v) for k, v in counts["unlinked"].items()}, "natural": natural,
            "linked_vs_natural": round(min(ratios), 3) if ratios else None, **pooled,
            "elsewhere_by_attribute": {k: rate(*v) for k, v in counts["elsewhere"].items() if v[0]}}


@torch.no_grad()
def control_totals(G, links: Sequence[Link], oracle, *, seeds: Sequence[int], psi: float = 1.0,
                   batch_size: int = 50, total: dict | None = None) -> dict[str, dict[str, dict[str, list[int]]]]:
    """Summed `control_counts` {link: {kind: {attribute: [changed, counted]}}} of G's links that declare region
    attributes, over the faces of `seeds`, each resampled towards the face of seed + 10^9 (const noise: only the
    latent moves); added to `total` where given (e.g. the views of a 3D generator)."""
    seeds = list(seeds)
    device = G.w_avg.device
    synth = lambda w_: G.synthesize(w_, noise_mode="const")  # noqa: E731
    links = [l for l in links if l.attributes]
    total = {} if total is None else total
    for i in range(0, len(seeds), batch_size):
        chunk = seeds[i:i + batch_size]
        w = G.map(G.z_from_seeds(chunk, device=device), psi=psi)
        w_new = G.map(G.z_from_seeds([s + 10**9 for s in chunk], device=device), psi=psi)
        before = _read(oracle, synth(w)) if links else None          # the same faces for every link
        for link in links:
            _accumulate(total, link.name, control_counts(synth, w, w_new, link, oracle, before=before))
    return total


def _accumulate(total: dict, name: str, counts: dict[str, dict[str, tuple[int, int]]]) -> None:
    for kind, per in counts.items():
        for k, (c, n) in per.items():
            acc = total.setdefault(name, {}).setdefault(kind, {}).setdefault(k, [0, 0])
            acc[0] += c
            acc[1] += n


def summarize_totals(total: dict[str, dict[str, dict[str, list[int]]]], links: Sequence[Link]) -> dict[str, dict]:
    """{link: `summarize`} of `control_totals`."""
    return {l.name: summarize({kind: {k: tuple(v) for k, v in per.items()} for kind, per in total[l.name].items()}, l)
            for l in links if l.name in total}


def region_control(G, links: Sequence[Link], oracle, *, seeds: Sequence[int], psi: float = 1.0,
                   batch_size: int = 50) -> dict[str, dict]:
    """Region control of every link of G that declares region attributes, over the faces of `seeds`, each
    resampled towards the face of seed + 10^9. See `summarize`."""
    return summarize_totals(control_totals(G, links, oracle, seeds=seeds, psi=psi, batch_size=batch_size), links)


@torch.no_grad()
def data_control(links: Sequence[Link], oracle, *, seeds: Sequence[int], size: int = 64,
                 batch_size: int = 50) -> dict[str, dict]:
    """Region control of a perfect link, read by the same oracle on procedural faces: each face of `seeds` gets the
    fields its link's parts draw (linkgan.data.attributes.fields_of_parts) from the face of seed + 10^9 ("linked"),
    or every other field ("unlinked"). What the oracle reads there is the best a generator can score: "elsewhere"
    counts the oracle's own errors on faces whose other attributes did not change. Semantic links only (a fixed box
    has no parts); `summarize` per link."""
    from .data import PART_LABELS
    from .data.attributes import fields_of_parts, sample_attributes
    from .data.pool import render_attributes, to_float

    device = next(oracle.parameters()).device
    read = lambda attrs: _read(oracle, to_float(render_attributes(attrs, size=size)).to(device))  # noqa: E731
    links = [l for l in links if l.attributes and l.semantic]
    for link in links:
        _check_attributes(link, oracle)
    fields = {l.name: fields_of_parts(PART_LABELS[j] for j in l.label_ids) for l in links}
    total: dict = {}
    seeds = list(seeds)
    for i in range(0, len(seeds), batch_size):
        a = [sample_attributes(s) for s in seeds[i:i + batch_size]]
        b = [sample_attributes(s + 10**9) for s in seeds[i:i + batch_size]]
        before = read(a)
        for link in links:
            f = fields[link.name]
            _accumulate(total, link.name, _count(before, read(_swap(a, b, f)), read(_swap(b, a, f)), link, oracle))
    return summarize_totals(total, links)


# Parts whose presence both instruments read: (the segmenter's part, the oracle's attribute, its class for "absent")
PRESENCE = (("beard", "beard", "none"), ("glasses", "glasses", "none"), ("hair", "hair_style", "bald"))
# A part counts as drawn where the segmenter gives it at least this share of the pixels (20 px at 64 px: thin
# frames of glasses are drawn; on procedural faces the two instruments then agree on 99-100 % of the faces).
PRESENT_SHARE = 20 / 64**2


@torch.no_grad()
def label_disagreement(images: torch.Tensor, segmenter, oracle, *, reads: dict[str, list[str]] | None = None
                       ) -> dict[str, float]:
    """{part: share of the images where the segmenter and the oracle disagree on whether the part is drawn}, for
    the parts of PRESENCE. The regularizer takes its regions from the segmenter and region control reads content
    with the oracle; both were trained on procedural faces, where they agree. On a generator's faces they can part
    (a faint shade on the chin: a beard to one, none to the other), and then both the regions and the control
    numbers of those parts rest on guesses: compare with the same measure on procedural faces. reads:
    oracle.predict(images) where the caller has it."""
    from .data import PART_LABELS

    labels = segmenter.predict(images)
    reads = oracle.predict(images) if reads is None else reads
    drawn_px = PRESENT_SHARE * images.shape[-1] * images.shape[-2]
    out = {}
    for part, attribute, absent in PRESENCE:
        drawn = (labels == PART_LABELS.index(part)).flatten(1).sum(1) >= drawn_px
        seen = torch.tensor([r != absent for r in reads[attribute]], device=drawn.device)
        out[part] = round(float((drawn != seen).float().mean()), 3)
    return out


def _swap(keep, take, fields: Sequence[str]) -> list:
    """Each face of `keep` with `fields` taken from the face of `take` at the same place."""
    import dataclasses
    return [dataclasses.replace(k, **{f: getattr(t, f) for f in fields}) for k, t in zip(keep, take)]
