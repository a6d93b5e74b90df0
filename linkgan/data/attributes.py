"""Attributes of the procedural "toy faces" domain (docs/methods.md, "The toy-faces domain"): names, colours,
seeded sampling.

Every face is a `FaceAttributes`: one categorical value per key of `ATTRIBUTES` (the ground truth for
classifiers and captions) plus the continuous parameters the renderer actually draws with (exact RGB
colours drawn from a small range around each named colour, pose jitter, proportions). A seed fixes all of it.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

RGB = tuple[int, int, int]

# Categorical attributes, in a fixed order: the order of `FaceAttributes.as_indices()` and of the
# attribute vector in the dataset. Index = class id. Append new values at the end so ids stay stable.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "hair_style": ("bald", "short", "long", "bob", "mohawk", "curly"),
    "hair_color": ("black", "brown", "blond", "red", "grey", "purple", "blue"),
    "eye_color": ("brown", "blue", "green"),
    "eyes": ("open", "closed"),
    "mouth": ("neutral", "smile", "open", "frown"),
    "glasses": ("none", "round", "square", "sunglasses"),
    "beard": ("none", "stubble", "full"),
    "face_shape": ("round", "oval", "square"),
    "skin_tone": ("pale", "light", "tan", "brown", "dark"),
    "background": ("white", "grey", "blue", "green", "yellow", "pink"),
}

# Sampling probabilities (uniform where absent). About half the faces have no glasses and no beard and
# most have open eyes, as in photos; every other value still gets >= 16% of the faces, plenty to learn from.
ATTRIBUTE_PROBS: dict[str, tuple[float, ...]] = {
    "eyes": (0.75, 0.25),
    "glasses": (0.52, 0.16, 0.16, 0.16),
    "beard": (0.5, 0.2, 0.3),
}

# Named colours are centres; the drawn RGB is centre + a seeded offset of at most `COLOR_JITTER[key]` per
# channel. The centres are far enough apart (> 2x the jitter in some channel) that a name stays unambiguous.
HAIR_RGB: dict[str, RGB] = {
    "black": (34, 30, 32), "brown": (110, 66, 34), "blond": (236, 198, 98), "red": (192, 70, 36),
    "grey": (172, 172, 178), "purple": (130, 56, 170), "blue": (44, 88, 200),
}
EYE_RGB: dict[str, RGB] = {"brown": (112, 64, 28), "blue": (56, 124, 220), "green": (56, 156, 68)}
SKIN_RGB: dict[str, RGB] = {
    "pale": (252, 228, 210), "light": (238, 196, 158), "tan": (204, 148, 100),
    "brown": (148, 96, 60), "dark": (94, 60, 40),
}
BACKGROUND_RGB: dict[str, RGB] = {
    "white": (242, 242, 236), "grey": (118, 122, 128), "blue": (140, 182, 232),
    "green": (150, 212, 150), "yellow": (246, 226, 128), "pink": (242, 170, 192),
}
COLOR_JITTER = {"hair": 14, "eye": 14, "skin": 9, "background": 12}

# The parts (linkgan.data.render.PART_LABELS) each field of `FaceAttributes` draws in: a generator whose link owns
# those parts should own those fields. Fields not named here draw in parts of several links or everywhere (skin,
# pose, background, clothes) and belong to no part. Hair colour also colours the brows and the beard; the detail
# seed draws the curls and the stubble; the eye spacing places the glasses and the brows too;
# the mouth width shapes the moustache.
FIELD_PARTS: dict[str, tuple[str, ...]] = {
    "hair_style": ("hair",), "hair_length": ("hair",), "hair_color": ("hair", "brows", "beard"),
    "hair_rgb": ("hair", "brows", "beard"), "detail_seed": ("hair", "beard"), "brow_tilt": ("brows",),
    "beard": ("beard",), "eye_color": ("eyes",), "eye_rgb": ("eyes",), "eyes": ("eyes",), "eye_size": ("eyes",),
    "gaze": ("eyes",), "eye_spacing": ("eyes", "glasses", "brows"), "glasses": ("glasses",), "frame_rgb": ("glasses",),
    "mouth": ("mouth",), "mouth_width": ("mouth", "beard"),
}


def fields_of_parts(parts) -> tuple[str, ...]:
    """The `FaceAttributes` fields drawn only within `parts` (names of PART_LABELS): what a perfect link of those
    parts changes when its axes are resampled."""
    parts = set(parts)
    return tuple(f for f, drawn in FIELD_PARTS.items() if set(drawn) <= parts)


# Continuous pose jitter, in fractions of the image side (dx, dy), relative scale and degrees of tilt.
# `render.EYES_BOX` / `MOUTH_BOX` are chosen so the parts stay inside them over these ranges.
MAX_SHIFT = 0.025
SCALE_RANGE = (0.95, 1.05)
MAX_TILT_DEG = 5.0


@dataclass(frozen=True)
class FaceAttributes:
    """Everything needed to draw one face. Categorical fields match `ATTRIBUTES`; the rest are continuous."""
    hair_style: str
    hair_color: str
    eye_color: str
    eyes: str
    mouth: str
    glasses: str
    beard: str
    face_shape: str
    skin_tone: str
    background: str
    # Exact colours drawn (uint8 RGB), each near the centre of its named colour.
    hair_rgb: RGB
    eye_rgb: RGB
    skin_rgb: RGB
    background_rgb: RGB
    clothes_rgb: RGB      # shirt: any hue, not an attribute (variety for the GAN only)
    frame_rgb: RGB        # glasses frame colour (sunglasses lenses are always near-black)
    # Pose: shift of the face centre (fractions of the image), scale, in-plane tilt (degrees, + = clockwise).
    dx: float
    dy: float
    scale: float
    tilt: float
    # Proportions, as multipliers (~1) or offsets (~0) of the canonical face; all kept small.
    face_width: float     # x radius multiplier of the face
    face_height: float    # y radius multiplier of the face
    eye_spacing: float    # offset of each eye from the centre line, multiplier
    eye_size: float       # multiplier of the eye radii
    gaze: float           # iris shift, a fraction of its free travel in the eye (-1 left corner .. 1 right)
    brow_tilt: float      # + raises the inner ends of the brows (worried), - lowers them (stern)
    mouth_width: float    # multiplier
    hair_length: float    # multiplier of the length of long / bob hair and of the mohawk crest
    detail_seed: int      # seeds the small stochastic details (curls, stubble speckles)

    def as_indices(self) -> dict[str, int]:
        """Class id of every categorical attribute, in `ATTRIBUTES` order."""
        return {key: values.index(getattr(self, key)) for key, values in ATTRIBUTES.items()}

    def hidden_attributes(self) -> frozenset[str]:
        """Attributes that cannot be seen in the picture (for masking classifier losses and captions).

        Sunglasses hide the eyes entirely; closed eyes hide the iris colour; a bald head shows its hair
        colour only in thin brows (and a beard), so it counts as hidden unless there is a full beard.
        """
        return hidden_attributes(glasses=self.glasses, eyes=self.eyes, hair_style=self.hair_style, beard=self.beard)


def hidden_in_reading(reading) -> frozenset[str]:
    """`hidden_attributes` of a reading of one picture ({attribute: class name}, e.g. a classifier's): nothing where
    the reading lacks one of the four attributes the rules depend on."""
    keys = ("glasses", "eyes", "hair_style", "beard")
    return hidden_attributes(**{k: reading[k] for k in keys}) if all(k in reading for k in keys) else frozenset()


def hidden_attributes(*, glasses: str, eyes: str, hair_style: str, beard: str) -> frozenset[str]:
    """The rules of FaceAttributes.hidden_attributes from the four categorical values they depend on (also usable
    on a classifier's reading of a picture)."""
    hidden = set()
    if glasses == "sunglasses":
        hidden |= {"eyes", "eye_color"}
    elif eyes == "closed":
        hidden.add("eye_color")
    if hair_style == "bald" and beard != "full":
        hidden.add("hair_color")
    return frozenset(hidden)


def _jitter_rgb(rng: np.random.Generator, centre: RGB, amount: int) -> RGB:
    # One brightness-like shared offset plus a smaller per-channel offset: the shared part varies
    # lightness, the per-channel part varies hue slightly; together bounded by `amount` per channel.
    shared = rng.uniform(-0.6, 0.6) * amount
    own = rng.uniform(-0.4, 0.4, size=3) * amount
    rgb = np.clip(np.asarray(centre, dtype=np.float64) + shared + own, 0, 255)
    return tuple(int(round(c)) for c in rgb)


def _sample_index(rng: np.random.Generator, probs: tuple[float, ...] | None, n: int) -> int:
    # Inverse CDF on one uniform draw (rng.choice with p= is several times slower for such short lists).
    u = rng.random()
    if probs is None:
        return min(int(u * n), n - 1)
    acc = 0.0
    for i, p in enumerate(probs):
        acc += p
        if u < acc:
            return i
    return n - 1


def _random_clothes(rng: np.random.Generator) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.3, 0.8), rng.uniform(0.35, 0.9))
    return (int(r * 255), int(g * 255), int(b * 255))


_FRAME_RGB = ((25, 25, 28), (90, 50, 25), (170, 30, 40), (30, 60, 150), (190, 150, 60))


def sample_attributes(seed: int) -> FaceAttributes:
    """Draw a face's attributes from `numpy.random.default_rng(seed)`; the same seed gives the same face."""
    rng = np.random.default_rng(seed)
    cats = {}
    # Categorical values first, in a fixed order, so adding continuous fields later keeps them stable.
    for key, values in ATTRIBUTES.items():
        cats[key] = values[_sample_index(rng, ATTRIBUTE_PROBS.get(key), len(values))]
    frame = np.asarray(_FRAME_RGB[int(rng.integers(len(_FRAME_RGB)))], dtype=np.float64)
    frame = tuple(int(c) for c in np.clip(frame + rng.uniform(-15, 15, size=3), 0, 255))
    return FaceAttributes(
        **cats,
        hair_rgb=_jitter_rgb(rng, HAIR_RGB[cats["hair_color"]], COLOR_JITTER["hair"]),
        eye_rgb=_jitter_rgb(rng, EYE_RGB[cats["eye_color"]], COLOR_JITTER["eye"]),
        skin_rgb=_jitter_rgb(rng, SKIN_RGB[cats["skin_tone"]], COLOR_JITTER["skin"]),
        background_rgb=_jitter_rgb(rng, BACKGROUND_RGB[cats["background"]], COLOR_JITTER["background"]),
        clothes_rgb=_random_clothes(rng),
        frame_rgb=frame,
        dx=float(rng.uniform(-MAX_SHIFT, MAX_SHIFT)),
        dy=float(rng.uniform(-MAX_SHIFT, MAX_SHIFT)),
        scale=float(rng.uniform(*SCALE_RANGE)),
        tilt=float(rng.uniform(-MAX_TILT_DEG, MAX_TILT_DEG)),
        face_width=float(rng.uniform(0.96, 1.04)),
        face_height=float(rng.uniform(0.96, 1.04)),
        eye_spacing=float(rng.uniform(0.92, 1.08)),
        eye_size=float(rng.uniform(0.9, 1.1)),
        gaze=float(rng.uniform(-0.25, 0.25)),
        brow_tilt=float(rng.uniform(-1.0, 1.0)),
        mouth_width=float(rng.uniform(0.88, 1.12)),
        hair_length=float(rng.uniform(0.9, 1.1)),
        detail_seed=int(rng.integers(2**31)),
    )

