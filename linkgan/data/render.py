"""Renderer of the procedural "toy faces" (docs/methods.md, "The toy-faces domain"): `FaceAttributes` -> RGB
image + part label map.

Every part is a polygon or polyline in face coordinates (origin at the face centre, unit = image side),
mapped by one affine transform (pose shift, scale, tilt) and drawn with PIL at 4x the output size into an
RGB canvas and, with the same calls, a label canvas; both are then reduced 4x (box filter / weighted vote),
so image and masks line up exactly and edges are antialiased.
"""
from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image, ImageDraw

from .attributes import FaceAttributes

SIZES = (32, 64, 128, 256)          # output sizes the models are trained at (any size >= 16 renders)
SUPERSAMPLE = 4                     # draw at 4x, then reduce: antialiasing without PIL's aliased edges

# Part label ids: index in this tuple. Later parts in the painter's order overwrite earlier ones.
PART_LABELS = ("background", "skin", "hair", "eyes", "mouth", "glasses", "beard", "brows", "nose", "clothes")
LABEL = {name: i for i, name in enumerate(PART_LABELS)}

# Fixed boxes (x0, y0, x1, y1), normalised to [0, 1] of the image, that contain both eyes and any glasses
# (EYES_BOX; the brows too, in practice) and the mouth (MOUTH_BOX) for every seed: measured at the extremes
# of the pose ranges of `attributes.py`, plus about one pixel at 64 px; tests/test_data.py checks them.
# They touch but do not overlap, so the two LinkGAN regions are disjoint.
EYES_BOX = (0.25, 0.33, 0.75, 0.58)
MOUTH_BOX = (0.35, 0.58, 0.65, 0.77)

FACE_CENTRE = (0.5, 0.5)            # canonical face centre in the image, before pose jitter

# Canonical layout in face coordinates (y grows downwards).
_EYE_Y, _EYE_X, _EYE_RX, _EYE_RY = -0.04, 0.097, 0.05, 0.036
_BROW_DY = -0.068                   # brow centre line relative to the eye centre
_NOSE_Y = 0.055
_MOUTH_Y, _MOUTH_HW = 0.168, 0.068  # mouth centre and half width
# Face outline per shape: x radius, y radius, superellipse exponent, chin taper (narrower lower half).
_FACE = {"round": (0.255, 0.27, 2.0, 0.0), "oval": (0.228, 0.305, 2.0, 0.14), "square": (0.245, 0.285, 3.6, 0.0)}

# Vote weight of each label when reducing the 4x label map: thin parts (eye lines, brows, frames) win a
# pixel once they cover about a third of it, so they survive at 32 px where a plain majority would drop them.
_VOTE = np.ones(len(PART_LABELS))
_VOTE[[LABEL["eyes"], LABEL["mouth"], LABEL["glasses"], LABEL["brows"]]] = 2.0
_VOTE[LABEL["nose"]] = 1.5

_MIN_LINE_PX = 3                    # thinnest line at 4x: 0.75 output pixels, still legible at 32 px
_DARK = (36, 26, 28)                # outlines of eyes, lashes


def _mix(a, b, t: float) -> tuple[int, int, int]:
    """(1 - t) * a + t * b, as uint8 RGB."""
    return tuple(int(round((1 - t) * x + t * y)) for x, y in zip(a, b))


def _shade(rgb, k: float) -> tuple[int, int, int]:
    return tuple(int(min(255, round(c * k))) for c in rgb)


@functools.lru_cache(maxsize=512)
def _unit_arc(t0: float, t1: float, n: int) -> np.ndarray:
    # Cached: the renderer asks for the same few dozen arcs for every face. Shape (n, 2), read-only.
    t = np.linspace(t0, t1, n)
    arc = np.stack([np.cos(t), np.sin(t)], axis=1)
    arc.flags.writeable = False
    return arc


def _ellipse(cx: float, cy: float, rx: float, ry: float, t0: float = 0.0, t1: float = 2 * math.pi,
             n: int = 40) -> np.ndarray:
    """Points on an ellipse arc from angle t0 to t1 (y down: t = -pi/2 is the top). Shape (n, 2)."""
    return _unit_arc(t0, t1, n) * (rx, ry) + (cx, cy)


def _rounded_rect(cx: float, cy: float, hw: float, hh: float, r: float, n: int = 8) -> np.ndarray:
    """Rectangle with corner radius r, as a closed polygon. Shape (4 n, 2)."""
    corners = [(hw - r, hh - r, 0.0), (-hw + r, hh - r, 0.5 * math.pi), (-hw + r, -hh + r, math.pi),
               (hw - r, -hh + r, 1.5 * math.pi)]
    arcs = [_ellipse(cx + x, cy + y, r, r, t, t + 0.5 * math.pi, n) for x, y, t in corners]
    return np.concatenate(arcs)


class _Canvas:
    """A 4x RGB canvas and its label canvas, drawn with the same calls through one pose transform."""

    def __init__(self, size: int, attrs: FaceAttributes):
        self.res = size * SUPERSAMPLE
        self.image = Image.new("RGB", (self.res, self.res), attrs.background_rgb)
        self.labels = Image.new("L", (self.res, self.res), LABEL["background"])
        self._draw = ImageDraw.Draw(self.image)
        self._ldraw = ImageDraw.Draw(self.labels)
        c, s = math.cos(math.radians(attrs.tilt)), math.sin(math.radians(attrs.tilt))
        # face coords -> canvas pixels: p_px = res * (centre + scale * R(tilt) p); y down, so + tilt is clockwise.
        self._matrix = self.res * attrs.scale * np.array([[c, -s], [s, c]])
        self._offset = self.res * np.array([FACE_CENTRE[0] + attrs.dx, FACE_CENTRE[1] + attrs.dy])
        self._unit = self.res * attrs.scale

    def _xy(self, pts: np.ndarray) -> list[float]:
        return (np.asarray(pts) @ self._matrix.T + self._offset).ravel().tolist()

    def _width(self, w: float) -> int:
        return max(_MIN_LINE_PX, int(round(w * self._unit)))

    def polygon(self, pts, fill, label: str, outline=None, width: float = 0.0) -> None:
        pts = np.asarray(pts)
        xy, k = self._xy(pts), LABEL[label]
        self._draw.polygon(xy, fill=fill)
        self._ldraw.polygon(xy, fill=k)
        if outline is not None:
            # A stroke centred on the contour. (PIL's own wide outline stays inside the polygon, but builds
            # a full-canvas mask per call, which made it the bottleneck of the whole renderer.)
            # Contours are dense enough that plain joints leave no visible notches, and are much cheaper.
            self.line(np.concatenate([pts, pts[:2]]), outline, label, width, round_joints=False)

    def line(self, pts, fill, label: str, width: float, *, round_joints: bool = True) -> None:
        xy, w, k = self._xy(pts), self._width(width), LABEL[label]
        joint = "curve" if round_joints else None
        self._draw.line(xy, fill=fill, width=w, joint=joint)
        self._ldraw.line(xy, fill=k, width=w, joint=joint)


def _face_outline(attrs: FaceAttributes, grow: tuple[float, float] = (0.0, 0.0), n: int = 72,
                  t0: float = 0.0, t1: float = 2 * math.pi) -> np.ndarray:
    """Superellipse face contour (optionally grown by (gx, gy)), from angle t0 to t1. Shape (n, 2)."""
    a, b, p, taper = _face_dims(attrs)
    t = np.linspace(t0, t1, n)
    c, s = np.cos(t), np.sin(t)
    x = (a + grow[0]) * np.sign(c) * np.abs(c) ** (2 / p)
    y = (b + grow[1]) * np.sign(s) * np.abs(s) ** (2 / p)
    x = x * (1 - taper * np.clip(y / b, 0, None) ** 2)   # egg shape: the jaw narrows towards the chin
    return np.stack([x, y], axis=1)


def _face_dims(attrs: FaceAttributes) -> tuple[float, float, float, float]:
    a, b, p, taper = _FACE[attrs.face_shape]
    return a * attrs.face_width, b * attrs.face_height, p, taper


def _eye_centres(attrs: FaceAttributes) -> list[tuple[float, float]]:
    ex = _EYE_X * attrs.eye_spacing
    return [(-ex, _EYE_Y), (ex, _EYE_Y)]


def _hair_outline(A: float, B: float, bottom: float, flare: float, n: int = 48) -> np.ndarray:
    """Right bottom -> right side at y=0 -> over the top of the head -> left side -> left bottom."""
    arc = _ellipse(0.0, 0.0, A, B, 0.0, -math.pi, n)
    return np.concatenate([[(A + flare, bottom)], arc, [(-A - flare, bottom)]])


def _draw_back_hair(cv: _Canvas, attrs: FaceAttributes, rng: np.random.Generator) -> None:
    """Hair behind the head: the long / bob mass and the afro of curls."""
    a, b, _, _ = _face_dims(attrs)
    hair, edge = attrs.hair_rgb, _shade(attrs.hair_rgb, 0.7)
    if attrs.hair_style == "long":
        cv.polygon(_hair_outline(a + 0.06, b + 0.05, 0.48 * attrs.hair_length, 0.03), hair, "hair", edge, 0.008)
    elif attrs.hair_style == "bob":
        cv.polygon(_hair_outline(a + 0.055, b + 0.045, 0.17 * attrs.hair_length, 0.01), hair, "hair", edge, 0.008)
    elif attrs.hair_style == "curly":
        cv.polygon(_hair_outline(a + 0.04, b + 0.03, 0.2, 0.0), hair, "hair")
        # A ring of overlapping curls from jaw to jaw over the top: the bumpy silhouette is the signature.
        angles = np.linspace(0.3 * math.pi, -1.3 * math.pi, 17)
        for t, r in zip(angles, rng.uniform(0.055, 0.07, size=len(angles))):
            cx, cy = (a + 0.035) * math.cos(t), (b + 0.03) * math.sin(t)
            cv.polygon(_ellipse(cx, cy, r, r, n=20), hair, "hair", edge, 0.009)


def _draw_front_hair(cv: _Canvas, attrs: FaceAttributes, rng: np.random.Generator) -> None:
    """Hair in front of the forehead and the sides of the face."""
    a, b, _, _ = _face_dims(attrs)
    hair, edge = attrs.hair_rgb, _shade(attrs.hair_rgb, 0.7)
    style = attrs.hair_style
    if style == "bald":
        # A highlight on the scalp: it reads as "bald" rather than as a forehead without hair drawn.
        shine = _mix(attrs.skin_rgb, (255, 255, 255), 0.4)
        cv.polygon(_ellipse(0.06, -0.78 * b, 0.05, 0.022, n=20), shine, "skin")
    elif style == "short":
        side = rng.choice([-1.0, 1.0])
        h = 0.08  # the sideburns end level with the tops of the eyes
        t = math.asin(min(h / (b + 0.03), 1.0))
        outer = _ellipse(0.0, 0.0, a + 0.025, b + 0.03, -t, -math.pi + t, 40)
        xs = np.linspace(-0.8 * a, 0.8 * a, 12)
        # Slightly swept hairline: higher on one side, lower in a tuft on the other.
        hairline = np.stack([xs, -0.6 * b + side * 0.03 * xs / a - 0.02 * (1 - (xs / (0.8 * a)) ** 2)], axis=1)
        pts = np.concatenate([outer, [(-a + 0.005, -h), (-a + 0.035, -h)], hairline,
                              [(a - 0.035, -h), (a - 0.005, -h)]])
        cv.polygon(pts, hair, "hair", edge, 0.008)
    elif style in ("long", "bob"):
        long = style == "long"
        A, B = (a + 0.06, b + 0.05) if long else (a + 0.055, b + 0.045)
        bottom = (0.44 if long else 0.17) * attrs.hair_length
        flare = 0.03 if long else 0.01
        w = 0.085 if long else 0.07  # curtain thickness at the bottom
        outer = _hair_outline(A, B, bottom, flare)
        if long:
            # Curtains with a parting: the forehead shows between them, the ends lie on the shoulders.
            part = rng.uniform(-0.06, 0.06)
            inner = [(-A - flare + w, bottom), (-a + 0.025, 0.0), (-0.7 * a, -0.62 * b), (part, -0.88 * b),
                     (0.7 * a, -0.62 * b), (a - 0.025, 0.0), (A + flare - w, bottom)]
        else:
            # A blunt straight fringe just above the brows, sides cut at the jaw.
            fringe = -0.47 * b
            inner = [(-A - flare + w, bottom), (-a + 0.02, fringe), (a - 0.02, fringe), (A + flare - w, bottom)]
        cv.polygon(np.concatenate([outer, inner]), hair, "hair", edge, 0.008)  # outer goes right -> left
    elif style == "mohawk":
        w, top = 0.055, -(b + 0.17 * attrs.hair_length)
        n_spikes = 4
        xs = np.linspace(-w, w, 2 * n_spikes + 1)
        ys = np.where(np.arange(len(xs)) % 2 == 1, top, top + 0.06)
        ys = ys + rng.uniform(-0.012, 0.012, size=len(xs))
        crest = np.concatenate([[(-w * 0.8, -0.6 * b)], np.stack([xs, ys], axis=1), [(w * 0.8, -0.6 * b)]])
        cv.polygon(crest, hair, "hair", edge, 0.008)
    elif style == "curly":
        # A row of small curls along the hairline, in front of the forehead.
        angles = np.linspace(-0.2 * math.pi, -0.8 * math.pi, 7)
        for t, r in zip(angles, rng.uniform(0.04, 0.05, size=len(angles))):
            cx, cy = 0.86 * a * math.cos(t), 0.84 * b * math.sin(t)
            cv.polygon(_ellipse(cx, cy, r, r, n=18), hair, "hair", edge, 0.009)


def _draw_body(cv: _Canvas, attrs: FaceAttributes) -> None:
    neck = _shade(attrs.skin_rgb, 0.86)  # in the shadow of the chin
    cv.polygon([(-0.078, 0.1), (0.078, 0.1), (0.082, 0.45), (-0.082, 0.45)], neck, "skin")
    cv.polygon(_ellipse(0.0, 0.6, 0.42, 0.22, n=48), attrs.clothes_rgb, "clothes",
               _shade(attrs.clothes_rgb, 0.7), 0.008)
    cv.polygon(_ellipse(0.0, 0.385, 0.078, 0.05, 0.0, math.pi, 16), neck, "skin")  # round neckline


def _draw_head(cv: _Canvas, attrs: FaceAttributes) -> None:
    a, b, _, _ = _face_dims(attrs)
    skin, edge = attrs.skin_rgb, _shade(attrs.skin_rgb, 0.72)
    if attrs.hair_style in ("bald", "short", "mohawk"):  # other styles cover the ears
        for sx in (-1, 1):
            cv.polygon(_ellipse(sx * (a - 0.004), _EYE_Y + 0.035, 0.036, 0.056, n=24), skin, "skin", edge, 0.007)
            inner_ear = _ellipse(a + 0.004, _EYE_Y + 0.035, 0.016, 0.03, -0.5 * math.pi, 0.5 * math.pi, 10)
            cv.line(inner_ear * [sx, 1], edge, "skin", 0.006)  # drawn for the right ear, mirrored for the left
    cv.polygon(_face_outline(attrs), skin, "skin", edge, 0.008)


def _beard_region(attrs: FaceAttributes, full: bool) -> np.ndarray:
    """Jaw and chin below the cheeks, with a moustache over the mouth (the mouth is drawn on top)."""
    a = _face_dims(attrs)[0]
    grow = (0.012, 0.045) if full else (0.0, 0.0)
    outer = _face_outline(attrs, grow, n=40, t0=0.02 * math.pi, t1=0.98 * math.pi)  # right -> chin -> left
    mw = _MOUTH_HW * attrs.mouth_width
    top = _MOUTH_Y - (0.052 if full else 0.04)
    inner = [(-0.6 * a, 0.085), (-mw * 1.15, top + 0.012), (0.0, top - 0.004), (mw * 1.15, top + 0.012),
             (0.6 * a, 0.085)]
    return np.concatenate([outer, inner])


def _draw_beard(cv: _Canvas, attrs: FaceAttributes) -> None:
    if attrs.beard == "full":
        cv.polygon(_beard_region(attrs, True), attrs.hair_rgb, "beard", _shade(attrs.hair_rgb, 0.7), 0.008)
    elif attrs.beard == "stubble":
        # Tinted here; speckled after drawing, where the final label map says "beard" (see _speckle).
        cv.polygon(_beard_region(attrs, False), _mix(attrs.skin_rgb, attrs.hair_rgb, 0.3), "beard")


def _draw_nose(cv: _Canvas, attrs: FaceAttributes) -> None:
    shadow = _shade(attrs.skin_rgb, 0.8)
    cv.polygon(_ellipse(0.0, _NOSE_Y, 0.022, 0.016, n=20), _shade(attrs.skin_rgb, 0.9), "nose")
    cv.line(_ellipse(0.0, _NOSE_Y, 0.02, 0.016, 0.15 * math.pi, 0.85 * math.pi, 10), shadow, "nose", 0.008)


def _draw_mouth(cv: _Canvas, attrs: FaceAttributes) -> None:
    lip = _mix(attrs.skin_rgb, (150, 32, 48), 0.6)
    mw, y = _MOUTH_HW * attrs.mouth_width, _MOUTH_Y
    xs = np.linspace(-mw, mw, 15)
    bend = 1 - (xs / mw) ** 2                      # 0 at the corners, 1 in the middle
    if attrs.mouth == "neutral":
        cv.line([(-0.8 * mw, y), (0.8 * mw, y)], lip, "mouth", 0.018)
    elif attrs.mouth == "smile":
        # A crescent whose corners turn up: thin at the corners, deepest in the middle.
        upper = np.stack([xs, y - 0.018 + 0.012 * bend], axis=1)
        lower = np.stack([xs, y - 0.018 + 0.05 * bend], axis=1)[::-1]
        cv.polygon(np.concatenate([upper, lower]), lip, "mouth", _shade(lip, 0.7), 0.006)
    elif attrs.mouth == "frown":
        cv.line(np.stack([0.85 * xs, y + 0.016 - 0.03 * bend], axis=1), lip, "mouth", 0.018)
    else:  # open: dark oval with teeth and tongue
        rx, ry = 0.6 * mw, 0.036
        cv.polygon(_ellipse(0.0, y, rx, ry, n=28), (72, 16, 26), "mouth", lip, 0.01)
        cv.polygon(_ellipse(0.0, y + 0.62 * ry, 0.55 * rx, 0.3 * ry, n=16), (210, 92, 102), "mouth")
        cv.polygon(_ellipse(0.0, y - 0.8 * ry, 0.6 * rx, 0.22 * ry, n=16), (246, 244, 236), "mouth")


def _draw_eyes(cv: _Canvas, attrs: FaceAttributes) -> None:
    rx, ry = _EYE_RX * attrs.eye_size, _EYE_RY * attrs.eye_size
    for ex, ey in _eye_centres(attrs):
        if attrs.eyes == "open":
            cv.polygon(_ellipse(ex, ey, rx, ry, n=32), (246, 246, 242), "eyes", _DARK, 0.006)
            ir = 0.8 * ry
            ix = ex + attrs.gaze * (rx - ir)
            cv.polygon(_ellipse(ix, ey + 0.1 * ry, ir, ir, n=24), attrs.eye_rgb, "eyes")
            cv.polygon(_ellipse(ix, ey + 0.1 * ry, 0.45 * ir, 0.45 * ir, n=16), (12, 10, 12), "eyes")
            cv.polygon(_ellipse(ix + 0.3 * ir, ey - 0.25 * ir, 0.18 * ir, 0.18 * ir, n=10), (255, 255, 255), "eyes")
            cv.line(_ellipse(ex, ey, rx, ry, -0.95 * math.pi, -0.05 * math.pi, 16), _DARK, "eyes", 0.011)  # upper lid
        else:
            # Closed: the lid as a downward arc with three short lashes.
            cv.line(_ellipse(ex, ey, rx, 0.6 * ry, 0.05 * math.pi, 0.95 * math.pi, 16), _DARK, "eyes", 0.012)
            for t in (0.3, 0.5, 0.7):
                x, y = ex + rx * math.cos(t * math.pi), ey + 0.6 * ry * math.sin(t * math.pi)
                cv.line([(x, y), (x + 0.15 * rx * math.cos(t * math.pi), y + 0.35 * ry)], _DARK, "eyes", 0.007)


def _draw_brows(cv: _Canvas, attrs: FaceAttributes) -> None:
    colour = _shade(attrs.hair_rgb, 0.75)
    for ex, ey in _eye_centres(attrs):
        out = math.copysign(1.0, ex)  # direction away from the nose
        y0 = ey + _BROW_DY
        inner = (ex - out * 0.035, y0 - 0.012 * attrs.brow_tilt)
        pts = [inner, (ex + out * 0.005, y0 - 0.01), (ex + out * 0.045, y0 + 0.006)]
        cv.line(pts, colour, "brows", 0.02)


def _draw_glasses(cv: _Canvas, attrs: FaceAttributes) -> None:
    """Frames only are labelled "glasses" for clear lenses (the eyes stay visible); sunglasses are opaque."""
    if attrs.glasses == "none":
        return
    frame = attrs.frame_rgb
    centres = _eye_centres(attrs)
    ex = centres[1][0]
    if attrs.glasses == "round":
        r = 0.064
        lenses = [_ellipse(x, y, r, r, n=40) for x, y in centres]
        inner_edge = ex - r
    else:
        hw, hh = (0.074, 0.05) if attrs.glasses == "square" else (0.076, 0.054)
        lenses = [_rounded_rect(x, y, hw, hh, 0.018 if attrs.glasses == "square" else 0.03) for x, y in centres]
        inner_edge = ex - hw
    if attrs.glasses == "sunglasses":
        for lens in lenses:
            cv.polygon(lens, (22, 22, 28), "glasses", frame, 0.01)
        for x, y in centres:  # glint: reads as glass rather than as a black patch
            cv.line([(x + 0.02, y - 0.035), (x + 0.04, y - 0.015)], (120, 124, 136), "glasses", 0.008)
    else:
        for lens in lenses:
            cv.line(np.concatenate([lens, lens[:2]]), frame, "glasses", 0.011)
    bridge = _ellipse(0.0, _EYE_Y + 0.012, inner_edge, 0.022, -0.9 * math.pi, -0.1 * math.pi, 10)
    cv.line(bridge, frame, "glasses", 0.011)


def _speckle(image: np.ndarray, labels: np.ndarray, attrs: FaceAttributes, rng: np.random.Generator) -> None:
    """Stubble: darken about half of the beard region in random 2x2 specks (in place, at 4x)."""
    res = labels.shape[0]
    specks = rng.random((res // 2, res // 2)) < 0.45
    specks = np.repeat(np.repeat(specks, 2, axis=0), 2, axis=1)[:res, :res]
    where = specks & (labels == LABEL["beard"])
    image[where] = _mix(attrs.skin_rgb, _shade(attrs.hair_rgb, 0.6), 0.6)


def reduce_labels(labels: np.ndarray, factor: int = SUPERSAMPLE) -> np.ndarray:
    """Weighted majority label of each factor x factor block. [H*f, W*f] uint8 -> [H, W] uint8."""
    f, K = factor, len(PART_LABELS)
    H, W = labels.shape[0] // f, labels.shape[1] // f
    out = labels[::f, ::f].copy()  # [H, W]: the label of uniform blocks
    # Most blocks hold a single label; find the mixed ones (edges) with f*f whole-array comparisons.
    mixed = np.zeros((H, W), dtype=bool)
    for dy in range(f):
        for dx in range(f):
            mixed |= labels[dy::f, dx::f] != out
    ys, xs = np.nonzero(mixed)
    blocks = labels.reshape(H, f, W, f)[ys, :, xs, :].reshape(len(ys), f * f)  # [n_mixed, f*f]
    # One bincount over (block, label) pairs counts every label of every mixed block at once.
    keys = (np.arange(len(ys))[:, None] * K + blocks).ravel()
    counts = np.bincount(keys, minlength=len(ys) * K).reshape(len(ys), K) * _VOTE
    out[ys, xs] = counts.argmax(axis=1)
    return out


def render(attrs: FaceAttributes, *, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Draw a face. Returns (image uint8 [size, size, 3], part labels uint8 [size, size], ids in PART_LABELS)."""
    if size < 16:
        raise ValueError(f"size must be >= 16, got {size}")
    rng = np.random.default_rng(attrs.detail_seed)  # curls, parting, stubble: the same on every call
    cv = _Canvas(size, attrs)
    # Painter's order: each later part overwrites earlier ones, in the image and in the labels alike.
    _draw_back_hair(cv, attrs, rng)
    _draw_body(cv, attrs)
    _draw_head(cv, attrs)
    _draw_beard(cv, attrs)
    _draw_nose(cv, attrs)
    _draw_mouth(cv, attrs)
    _draw_eyes(cv, attrs)
    _draw_brows(cv, attrs)
    _draw_front_hair(cv, attrs, rng)
    _draw_glasses(cv, attrs)
    labels4 = np.asarray(cv.labels)
    image4 = cv.image
    if attrs.beard == "stubble":
        arr = np.array(image4)
        _speckle(arr, labels4, attrs, rng)
        image4 = Image.fromarray(arr)
    image = np.array(image4.reduce(SUPERSAMPLE))  # box filter: the mean of each 4x4 block, rounded
    return image, reduce_labels(labels4)
