"""Captions for toy faces (docs/methods.md, "The toy-faces domain"): attributes -> varied English, for training a
small CLIP.

Wording, phrase order and sentence form all vary with the caption seed, so a text encoder has to learn
words rather than positions. Colour words stay canonical most of the time ("blond", "purple") so that
StyleCLIP prompts such as "a face with blond hair" or "a smiling face" fall inside the training distribution.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .attributes import FaceAttributes

_CAPTION_STREAM = 0xCA7  # mixed into the seed: caption randomness is independent of attribute sampling

# Rarer alternatives to the canonical colour words, used a quarter of the time (see `_colour`).
_HAIR_SYNONYMS = {"black": ("jet-black",), "brown": ("chestnut",), "blond": ("blonde", "golden"),
                  "red": ("ginger",), "grey": ("gray", "silver"), "purple": ("violet",)}
_SKIN_SYNONYMS = {"pale": ("fair",), "tan": ("tanned",)}
_BACKGROUND_SYNONYMS = {"grey": ("gray",), "blue": ("light blue",), "green": ("light green",)}
_NOUNS = ("face", "face", "face", "cartoon face", "person", "cartoon person", "portrait",
          "drawing of a face", "cartoon character")


@dataclass(frozen=True)
class _Phrase:
    """Ways to say one attribute: noun phrases (after "with" / "has"), adjectives (before the noun)."""
    nps: Sequence[str]
    adjs: Sequence[str] = ()
    verb: str = "with"  # what introduces the noun phrase in "a face with ..." captions ("with" / "wearing")


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _colour(rng: np.random.Generator, name: str, synonyms: dict[str, tuple[str, ...]]) -> str:
    # The canonical name three times out of four, so that prompts with it match the training captions.
    alternatives = synonyms.get(name, ())
    return _pick(rng, alternatives) if alternatives and rng.random() < 0.25 else name


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _phrases(attrs: FaceAttributes, rng: np.random.Generator) -> list[_Phrase]:
    """The attributes to mention this time. "none"/"bald"-like values are mentioned only sometimes."""
    out: list[_Phrase] = []
    hc = _colour(rng, attrs.hair_color, _HAIR_SYNONYMS)
    style = attrs.hair_style
    if style == "bald":
        if rng.random() < 0.8:
            out.append(_Phrase(["a bald head", "no hair", "a shaved head"], ["bald", "bald", "hairless"]))
    else:
        by_style = {
            "short": [f"short {hc} hair", f"{hc} short hair", f"cropped {hc} hair"],
            "long": [f"long {hc} hair", f"{hc} long hair", f"long flowing {hc} hair"],
            "bob": [f"a {hc} bob", f"{hc} hair in a bob", f"a {hc} bob haircut", f"{hc} bob-cut hair"],
            "mohawk": [f"a {hc} mohawk", f"a spiky {hc} mohawk", f"{hc} hair in a mohawk"],
            "curly": [f"curly {hc} hair", f"{hc} curly hair", f"{hc} curls"],
        }[style]
        u = rng.random()
        if u < 0.25:    # colour only: "a face with purple hair"
            out.append(_Phrase([f"{hc} hair"], [f"{hc}-haired"]))
        elif u < 0.35:  # style only
            only = {"short": "short hair", "long": "long hair", "bob": "a bob haircut", "mohawk": "a mohawk",
                    "curly": "curly hair"}[style]
            out.append(_Phrase([only], ["curly-haired"] if style == "curly" else ()))
        else:
            out.append(_Phrase(by_style))
    if attrs.glasses == "sunglasses":
        pass  # the eyes are hidden
    elif attrs.eyes == "closed":
        out.append(_Phrase(["closed eyes", "closed eyes", "shut eyes", "eyes closed"]))
    elif rng.random() < 0.7:
        ec = attrs.eye_color
        out.append(_Phrase([f"{ec} eyes", f"open {ec} eyes"], [f"{ec}-eyed"]))
    mouth = {
        "smile": _Phrase(["a smile", "a big smile", "a happy smile"], ["smiling", "smiling", "happy"]),
        "frown": _Phrase(["a frown", "a sad frown"], ["frowning", "frowning", "sad"]),
        "open": _Phrase(["an open mouth", "its mouth open", "a wide open mouth"], ["open-mouthed", "surprised"]),
        "neutral": _Phrase(["a neutral expression", "a straight face", "a calm expression"], ["expressionless"]),
    }[attrs.mouth]
    if attrs.mouth != "neutral" or rng.random() < 0.5:
        out.append(mouth)
    glasses = {
        "round": ["round glasses", "round spectacles", "glasses"],
        "square": ["square glasses", "rectangular glasses", "glasses"],
        "sunglasses": ["sunglasses", "dark sunglasses", "shades"],
    }.get(attrs.glasses)
    if glasses is not None:
        out.append(_Phrase(glasses, verb=_pick(rng, ("with", "wearing"))))
    elif rng.random() < 0.2:
        out.append(_Phrase(["no glasses"]))
    if attrs.beard == "full":
        out.append(_Phrase(["a beard", "a full beard", "a thick beard"], ["bearded"]))
    elif attrs.beard == "stubble":
        out.append(_Phrase(["stubble", "a stubbly chin", "stubble on the chin"], ["unshaven", "stubbled"]))
    elif rng.random() < 0.2:
        out.append(_Phrase(["no beard"], ["clean-shaven", "beardless"]))
    if rng.random() < 0.5:
        shape = attrs.face_shape
        jaw = "a square jaw" if shape == "square" else f"{_article(shape)} {shape} face"
        out.append(_Phrase([f"{_article(shape)} {shape} face", jaw]))  # no "round-faced face" adjectives
    if rng.random() < 0.5:
        tone = _colour(rng, attrs.skin_tone, _SKIN_SYNONYMS)
        out.append(_Phrase([f"{tone} skin"], [f"{attrs.skin_tone}-skinned"]))
    return out


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def make_caption(attrs: FaceAttributes, seed: int) -> str:
    """A caption of `attrs`; wording, order and form vary with `seed` (same seed -> same caption)."""
    rng = np.random.default_rng([seed, _CAPTION_STREAM])
    phrases = _phrases(attrs, rng)
    order = rng.permutation(len(phrases))
    phrases = [phrases[i] for i in order]
    # A quarter of the captions are short ("a face with purple hair"), like the prompts used for editing.
    short = rng.random() < 0.25
    if short:
        phrases = phrases[:int(rng.integers(1, 3))]
    noun = _pick(rng, _NOUNS)
    bg = bg_tag = bg_sentence = None
    if not short and rng.random() < 0.6:
        colour = _colour(rng, attrs.background, _BACKGROUND_SYNONYMS)
        bg_sentence = f"The background is {colour}."
        bg_tag = f"{colour} background"
        bg = _pick(rng, (f"on a {bg_tag}", f"against a {bg_tag}", f"in front of a {colour} backdrop",
                         f"with a {bg_tag}"))
    form = rng.random()
    if form < 0.2:
        # Tag list: "portrait, long blond hair, smiling, glasses, pink background".
        tags = [_pick(rng, p.adjs) if p.adjs and rng.random() < 0.5 else _pick(rng, p.nps) for p in phrases]
        if bg_tag is not None:
            tags.insert(int(rng.integers(len(tags) + 1)), bg_tag)
        return ", ".join([noun] + tags)
    # Up to two attributes become adjectives before the noun ("a smiling bearded face ...").
    adjs, rest = [], []
    for p in phrases:
        if p.adjs and len(adjs) < 2 and rng.random() < 0.35:
            adjs.append(_pick(rng, p.adjs))
        else:
            rest.append(p)
    head = " ".join(adjs + [noun])
    head = f"{_article(head)} {head}"
    if form < 0.45 and rest:
        # Two sentences: "A cartoon face. It has long hair, a smile and glasses."
        nps = [_pick(rng, p.nps) for p in rest]
        subject = "This person has" if noun.endswith(("person", "character")) else "It has"
        tail = f" {bg_sentence}" if bg_sentence is not None else ""
        return f"{head[0].upper() + head[1:]}. {subject} {_join(nps)}.{tail}"
    # "a face with long hair and blue eyes, wearing glasses, on a pink background"
    groups: list[tuple[str, list[str]]] = []
    for p in rest:
        verb = p.verb if p.verb == "wearing" or rng.random() < 0.9 else "having"
        if groups and groups[-1][0] == verb:
            groups[-1][1].append(_pick(rng, p.nps))
        else:
            groups.append((verb, [_pick(rng, p.nps)]))
    clauses = [f"{verb} {_join(nps)}" for verb, nps in groups]
    if bg is not None:
        clauses.insert(int(rng.integers(len(clauses) + 1)), bg)
    if not clauses:
        return head
    return f"{head} {', '.join(clauses) if rng.random() < 0.5 else _join(clauses)}"
