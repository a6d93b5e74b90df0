"""Procedural 3D toy heads (docs/3d.md, "The scene"): the toy-faces attributes as a scene of clipped ellipsoids,
ray cast from a camera in `cameras.CameraRange` into an image, part labels, depth and EG3D's 25 camera values.

The attributes, their names and sampling probabilities are the 2D domain's (`sample_attributes(seed)`), so the same
oracle vocabulary applies; part labels are the 2D `PART_LABELS` ids. World units: the head is about 0.37 wide and
sits in the box [-0.5, 0.5]^3 that the tri-plane generator represents; y is up and the face looks along +z.
Appearance is view-independent (Lambertian under a light fixed in the world), so every view of a head agrees.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from .. import cameras as cams
from .attributes import ATTRIBUTES, FaceAttributes, sample_attributes
from .raycast import Primitives, cast, gather
from .render import LABEL, reduce_labels

# Texture kinds: how a primitive's colour and label vary over its surface (see _texture).
SOLID, EYE_OPEN, EYE_CLOSED, MOUTH, SPECKLE, SUNGLASS = range(6)
MOUTH_KIND = {name: i for i, name in enumerate(ATTRIBUTES["mouth"])}       # param of a MOUTH primitive

HEAD_Y = 0.03                                      # height of the head's centre
# Head semi-axes (x, y, z) per face shape; "square" adds a wide jaw below (see _head).
_HEAD = {"round": (0.185, 0.225, 0.205), "oval": (0.165, 0.245, 0.2), "square": (0.19, 0.225, 0.205)}
_EYE_DY, _EYE_X = 0.03, 0.068                     # eye centres: height above HEAD_Y, distance from the centre line
_EYE_R = (0.038, 0.027, 0.028)                     # eyeball semi-axes
_MOUTH_DY = -0.135                                 # mouth height relative to HEAD_Y
_MOUTH_TILT = 17.0                                 # degrees the lips are turned up from the face's normal
_LIGHT = np.array([-0.35, 0.55, 0.75]) / np.linalg.norm([-0.35, 0.55, 0.75])   # fixed in the world
_AMBIENT = 0.45                                    # shade = ambient + (1 - ambient) * max(0, n . light)
_DARK = (36, 26, 28)                               # lashes, lid lines (the 2D renderer's outline colour)
_LIP = (150, 32, 48)                               # lips are 60 % this, 40 % skin (as in 2D)


def _rgb(c) -> np.ndarray:
    return np.asarray(c, dtype=np.float32) / 255.0


def _frame(z_axis, x_hint=(1.0, 0.0, 0.0)) -> np.ndarray:
    """Rotation whose columns are orthonormal axes with local z along `z_axis` and local x near `x_hint`."""
    z = np.asarray(z_axis, dtype=np.float64)
    z = z / np.linalg.norm(z)
    x = np.asarray(x_hint, dtype=np.float64) - z * np.dot(x_hint, z)
    x = x / np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def _rot_y(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rot_z(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


class _Scene:
    """The primitives of one head, appended one by one, scaled about the origin by the head's `scale`."""

    def __init__(self, scale: float):
        self.scale = scale
        self.rows: list[dict] = []

    def add(self, centre, radii, colour, label: str, *, rotation=None, clip=None, ring=None, kind: int = SOLID,
            colour2=(0, 0, 0), param: float = 0.0) -> None:
        """clip: (normal, offset), the kept half-space normal . p >= offset in unscaled units; ring: (lo, hi, q)."""
        if clip is None:
            n, offset = np.zeros(3), -1.0
        else:
            norm = np.linalg.norm(clip[0])
            n, offset = np.asarray(clip[0]) / norm, clip[1] / norm * self.scale
        self.rows.append(dict(
            centre=np.asarray(centre) * self.scale, radii=np.asarray(radii) * self.scale,
            rotation=np.eye(3) if rotation is None else np.asarray(rotation), clip_normal=n, clip_offset=offset,
            ring=(0.0, 2.0, 2.0) if ring is None else ring, colour=_rgb(colour), colour2=_rgb(colour2),
            label=LABEL[label], kind=kind, param=param))

    def segment(self, p0, p1, thickness: float, colour, label: str) -> None:
        """A thin rod from p0 to p1 (glasses temples)."""
        p0, p1 = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
        half = np.linalg.norm(p1 - p0) / 2
        self.add((p0 + p1) / 2, (thickness, thickness, half), colour, label, rotation=_frame(p1 - p0, (0, 1, 0)))


def _shade(rgb, k: float) -> tuple[float, ...]:
    return tuple(min(255.0, c * k) for c in rgb)


def _mix(a, b, t: float) -> tuple[float, ...]:
    return tuple((1 - t) * x + t * y for x, y in zip(a, b))


class _Head:
    """Geometry helpers of one head: its semi-axes and points on the front of its surface."""

    def __init__(self, a: FaceAttributes):
        hx, hy, hz = _HEAD[a.face_shape]
        self.r = np.array([hx * a.face_width, hy * a.face_height, hz])
        # a square face's wide jaw: a second ellipsoid (centre, semi-axes) over the lower face
        self.jaw = (((0, HEAD_Y - 0.11, -0.01), np.array([self.r[0] * 1.0, 0.13, 0.185]))
                    if a.face_shape == "square" else None)

    def front(self, x: float, y: float) -> tuple[np.ndarray, np.ndarray]:
        """Point on the front of the head ellipsoid at (x, y) and the unit surface normal there."""
        rx, ry, rz = self.r
        u = max(1e-4, 1 - (x / rx) ** 2 - ((y - HEAD_Y) / ry) ** 2)
        p = np.array([x, y, rz * math.sqrt(u)])
        n = (p - (0, HEAD_Y, 0)) / self.r ** 2
        return p, n / np.linalg.norm(n)

    def cut(self, y_front: float, y_back: float) -> tuple[tuple[float, float, float], float]:
        """Half-space keeping what is above the line from y_front (at the face) to y_back (at the back of the head)."""
        rz = self.r[2]
        s = (y_front - y_back) / (2 * rz)                   # y >= y_back + s (z + rz)
        return (0.0, 1.0, -s), y_back + s * rz


def _head(sc: _Scene, a: FaceAttributes, h: _Head) -> None:
    skin = a.skin_rgb
    sc.add((0, HEAD_Y, 0), h.r, skin, "skin")
    if h.jaw is not None:                                 # a wide jaw: the lower face is boxier
        sc.add(*h.jaw, skin, "skin")
    for sx in (-1, 1):
        sc.add((sx * h.r[0] * 0.97, HEAD_Y - 0.02, -0.01), (0.022, 0.048, 0.032), _shade(skin, 0.95), "skin")
    sc.add((0, -0.27, -0.025), (0.07, 0.14, 0.07), _shade(skin, 0.86), "skin")       # neck, in the chin's shadow
    sc.add((0, -0.56, -0.03), (0.34, 0.22, 0.19), a.clothes_rgb, "clothes")         # shoulders
    p, n = h.front(0.0, HEAD_Y - 0.045)
    sc.add(p, (0.022, 0.04, 0.035), _shade(skin, 0.95), "nose", rotation=_frame(n, (1, 0, 0)))


def _eyes(sc: _Scene, a: FaceAttributes, h: _Head) -> None:
    rx, ry, rz = (c * a.eye_size for c in _EYE_R)
    for sx in (-1, 1):
        x, y = sx * _EYE_X * a.eye_spacing, HEAD_Y + _EYE_DY
        p, n = h.front(x, y)
        centre = p - (0, 0, 0.45 * rz)                     # the front half of the eyeball shows
        if a.eyes == "open":                               # local z is the gaze: the iris turns with it
            sc.add(centre, (rx, ry, rz), (246, 246, 242), "eyes", rotation=_rot_y(25 * a.gaze), kind=EYE_OPEN,
                   colour2=a.eye_rgb)
        else:
            sc.add(centre, (rx, ry, rz), _shade(a.skin_rgb, 0.9), "eyes", kind=EYE_CLOSED, colour2=_DARK)
        # Brows follow the face's curvature (rotation about y) and tilt with brow_tilt (inner ends up for +).
        pb, nb = h.front(x * 1.02, y + 0.045)
        tilt = _rot_z(-sx * 10.0 * a.brow_tilt)
        sc.add(pb + 0.003 * nb, (0.038, 0.012, 0.014), _shade(a.hair_rgb, 0.75), "brows",
               rotation=_frame(nb, (1, 0, 0)) @ tilt)


def _mouth(sc: _Scene, a: FaceAttributes, h: _Head) -> None:
    p, n = h.front(0.0, HEAD_Y + _MOUTH_DY)
    # The face's normal there points about 34 degrees down, so a camera above the head saw the lips nearly edge-on
    # and read a frown as a neutral mouth; the lips face halfway between it and straight ahead.
    t = math.radians(_MOUTH_TILT)
    n = np.array([n[0], n[1] * math.cos(t) + n[2] * math.sin(t), n[2] * math.cos(t) - n[1] * math.sin(t)])
    ry = 0.06 if a.mouth == "open" else 0.05
    # Sticks out 0.032 from the face: through a beard's shell (0.018 thick at most) on every view.
    sc.add(p + 0.012 * n, (0.085 * a.mouth_width, ry, 0.02), _mix(a.skin_rgb, _LIP, 0.85), "mouth",
           rotation=_frame(n, (1, 0, 0)), kind=MOUTH, colour2=a.skin_rgb, param=MOUTH_KIND[a.mouth])


def _beard(sc: _Scene, a: FaceAttributes, h: _Head) -> None:
    if a.beard == "none":
        return
    full = a.beard == "full"
    grow = np.array([0.016, 0.04, 0.018]) if full else np.array([0.004, 0.006, 0.005])
    # Kept below a plane through the moustache (just above the mouth) at the front and the sideburns (ear level)
    # at the sides: y <= y_top - k z.
    y_top, k = 0.03, 0.5
    clip = ((0.0, -1.0, -k), -y_top)
    # a shell around the head and, on a square face, around its jaw too, so a beard keeps the face's outline
    shells = [((0, HEAD_Y - (0.015 if full else 0.0), 0), h.r)] + ([h.jaw] if h.jaw is not None else [])
    for centre, radii in shells:
        if full:
            sc.add(centre, radii + grow, a.hair_rgb, "beard", clip=clip)
        else:
            sc.add(centre, radii + grow, _mix(a.skin_rgb, a.hair_rgb, 0.3), "beard", clip=clip, kind=SPECKLE,
                   colour2=_mix(a.skin_rgb, _shade(a.hair_rgb, 0.6), 0.6))


def _hair(sc: _Scene, a: FaceAttributes, h: _Head, rng: np.random.Generator) -> None:
    style, hair, L = a.hair_style, a.hair_rgb, a.hair_length
    cap = h.r + (0.018, 0.02, 0.018)
    if style == "short":
        sc.add((0, HEAD_Y, 0), cap, hair, "hair", clip=h.cut(HEAD_Y + 0.135, HEAD_Y - 0.12))
    elif style in ("long", "bob"):
        long = style == "long"
        sc.add((0, HEAD_Y, 0), cap + (0.01, 0.01, 0.01), hair, "hair",
               clip=h.cut(HEAD_Y + (0.14 if long else 0.1), HEAD_Y - 0.25))
        # The mass behind and beside the face: to the shoulders (long) or the jaw (bob); kept behind the cheeks.
        if long:
            sc.add((0, HEAD_Y - 0.13 * L, -0.05), (0.228, 0.3 * L, 0.2), hair, "hair", clip=((0, 0, -1), -0.06))
        else:
            sc.add((0, HEAD_Y - 0.05, -0.03), (0.218, 0.17 * L, 0.2), hair, "hair", clip=((0, 0, -1), -0.07))
    elif style == "mohawk":
        sc.add((0, HEAD_Y + h.r[1] - 0.02, -0.02), (0.032, 0.09 * L, 0.2), hair, "hair",
               clip=((0, 1, 0), HEAD_Y + 0.1))
    elif style == "curly":
        sc.add((0, HEAD_Y, 0), cap, hair, "hair", clip=h.cut(HEAD_Y + 0.13, HEAD_Y - 0.12))
        # Curls over the top and sides, off the face: (elevation, azimuth from +z) in degrees.
        spots = [(20, az) for az in (70, -70, 110, -110, 150, -150, 180)] + \
                [(50, az) for az in (30, -30, 90, -90, 150, -150)] + [(82, 0)]
        for (el, az), r in zip(spots, rng.uniform(0.05, 0.065, size=len(spots))):
            e, t = math.radians(el), math.radians(az)
            d = np.array([math.cos(e) * math.sin(t), math.sin(e), math.cos(e) * math.cos(t)])
            sc.add(np.array([0, HEAD_Y, 0]) + (h.r + 0.01) * d, (r, r, r), hair, "hair")
    # bald: nothing


def _glasses(sc: _Scene, a: FaceAttributes, h: _Head) -> None:
    if a.glasses == "none":
        return
    frame = a.frame_rgb
    y = HEAD_Y + _EYE_DY
    x_eye = _EYE_X * a.eye_spacing
    z = h.front(x_eye, y)[0][2] + 0.035                    # lenses in front of the eyes
    if a.glasses == "round":
        radii, ring, half_w = (0.052, 0.052, 0.004), (0.8, 2.0, 2.0), 0.052
    else:   # a rounded square (|(x, y)|_8 <= 0.7) cut from a disc large enough to hold it
        radii, half_w = (0.088, 0.066, 0.004), 0.7 * 0.088
        ring = (0.58, 0.7, 8.0) if a.glasses == "square" else (0.0, 0.7, 8.0)
    for sx in (-1, 1):
        if a.glasses == "sunglasses":
            sc.add((sx * x_eye, y, z), radii, (22, 22, 28), "glasses", ring=ring, kind=SUNGLASS, colour2=frame)
        else:
            sc.add((sx * x_eye, y, z), radii, frame, "glasses", ring=ring)
        # Temple: from the lens's outer edge back to the ear.
        sc.segment((sx * (x_eye + half_w), y + 0.005, z), (sx * (h.r[0] + 0.012), y, -0.03), 0.006, frame,
                   "glasses")
    sc.add((0, y + 0.01, z), (x_eye - half_w + 0.004, 0.006, 0.006), frame, "glasses")   # bridge


def head_scene(a: FaceAttributes) -> _Scene:
    """The primitives of one head."""
    rng = np.random.default_rng(a.detail_seed)            # curl sizes: the same on every call
    sc, h = _Scene(a.scale), _Head(a)
    for part in (_head, _eyes, _mouth, _beard, _glasses):
        part(sc, a, h)
    _hair(sc, a, h, rng)
    return sc


@dataclass
class Appearance:
    """Per-slot colours, labels and texture parameters, beside the geometry (B, K, ...)."""
    colour: torch.Tensor        # (B, K, 3) in [0, 1]
    colour2: torch.Tensor       # (B, K, 3) the texture's second colour (iris, lid line, frame, skin around the lips)
    label: torch.Tensor         # (B, K) int64, PART_LABELS ids
    kind: torch.Tensor          # (B, K) int64 texture kind
    param: torch.Tensor         # (B, K) texture parameter (the mouth's shape)
    background: torch.Tensor    # (B, 3) in [0, 1]


def build_scenes(attrs: list[FaceAttributes], device=None) -> tuple[Primitives, Appearance]:
    """Stack the heads' primitives into K padded slots (K = the most any head has)."""
    scenes = [head_scene(a).rows for a in attrs]
    K = max(len(rows) for rows in scenes)
    pad = dict(centre=np.zeros(3), radii=np.ones(3), rotation=np.eye(3), clip_normal=np.zeros(3), clip_offset=-1.0,
               ring=(0.0, 2.0, 2.0), colour=np.zeros(3), colour2=np.zeros(3), label=0, kind=SOLID, param=0.0)
    rows = [r + [pad] * (K - len(r)) for r in scenes]

    def field(name, dtype=torch.float32):
        return torch.as_tensor(np.array([[row[name] for row in r] for r in rows]), dtype=dtype, device=device)

    ring = field("ring")
    prims = Primitives(centre=field("centre"), radii=field("radii"), rotation=field("rotation"),
                       clip_normal=field("clip_normal"), clip_offset=field("clip_offset"), ring_lo=ring[..., 0],
                       ring_hi=ring[..., 1], ring_q=ring[..., 2],
                       valid=torch.tensor([[i < len(s) for i in range(K)] for s in scenes], device=device))
    look = Appearance(colour=field("colour"), colour2=field("colour2"), label=field("label", torch.long),
                      kind=field("kind", torch.long), param=field("param"),
                      background=torch.as_tensor(np.array([_rgb(a.background_rgb) for a in attrs]), device=device))
    return prims, look


def _texture(look: Appearance, index: torch.Tensor, local: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Base colour (B, P, 3) and label (B, P) of each hit, from its slot's texture kind and the local hit point."""
    colour, label, kind = gather(look.colour, index), gather(look.label, index), gather(look.kind, index)
    sel = (kind != SOLID) & (index >= 0)                   # the few rays on a textured part
    colour[sel], label[sel] = _patterns(gather(look.colour2, index)[sel], colour[sel], label[sel], kind[sel],
                                        gather(look.param, index)[sel], local[sel])
    return colour, label


def _patterns(colour2, colour, label, kind, param, local):
    """Colour (N, 3) and label (N,) of N hits on textured parts (see the kinds at the top of the module)."""
    x, y, z = local.unbind(-1)
    rgb = colour.new_tensor

    def paint(where, value):
        return torch.where(where[:, None], value, colour)

    # open eye: white, iris (within 40 degrees of the gaze), pupil (15 degrees)
    colour = paint((kind == EYE_OPEN) & (z > math.cos(math.radians(40))), colour2)
    colour = paint((kind == EYE_OPEN) & (z > math.cos(math.radians(15))), rgb(_rgb((12, 10, 12))))
    # closed eye: the lid, with a dark line where it meets the lower lid
    colour = paint((kind == EYE_CLOSED) & ((y + 0.15).abs() < 0.13) & (z > 0.3), colour2)
    # mouth: lips in a shape per mouth kind; the rest of the primitive is skin
    bend, r = 1 - x.square(), torch.sqrt(x.square() + y.square())
    smile = (y > 0.6 - 1.5 * bend) & (y < 0.6 - 0.3 * bend) & (x.abs() < 0.95)
    lips = torch.stack([
        (y.abs() < 0.25) & (x.abs() < 0.75),                                          # neutral
        smile,                                                                        # smile: corners up
        r <= 1.0,                                                                     # open: all of it is mouth
        ((y - (-0.8 + 1.3 * bend)).abs() < 0.25) & (x.abs() < 0.95),                  # frown: corners down
    ], dim=-1).gather(-1, param.long().clamp(0, 3)[:, None])[:, 0]
    mouth = kind == MOUTH
    opening = mouth & (param == MOUTH_KIND["open"]) & (r < 0.75)
    colour = paint(opening, rgb(_rgb((72, 16, 26))))
    colour = paint(opening & (y > 0.4), rgb(_rgb((246, 244, 236))))                  # teeth
    colour = paint(opening & (y < -0.35), rgb(_rgb((210, 92, 102))))                 # tongue
    # a smile shows its upper teeth: told from a neutral mouth by colour where its shape is foreshortened
    grin = mouth & (param == MOUTH_KIND["smile"]) & smile & (y > 0.6 - 1.0 * bend) & (x.abs() < 0.8)
    colour = paint(grin, rgb(_rgb((246, 244, 236))))
    colour = paint(mouth & ~lips, colour2)
    label = torch.where(mouth & ~lips, LABEL["skin"], label)
    # stubble: specks fixed to the surface (a hash of the cell of the local point), about 45 % of it
    cell = torch.floor(local * 18.0)
    h = torch.frac(torch.sin((cell * rgb([12.9898, 78.233, 37.719])).sum(-1)) * 43758.5453).abs()
    colour = paint((kind == SPECKLE) & (h < 0.45), colour2)
    # sunglasses: a frame round a dark lens, with a glint
    sun = kind == SUNGLASS
    colour = paint(sun & ((x + y - 0.55).abs() < 0.07) & (x > 0.15) & (x < 0.45), rgb(_rgb((120, 124, 136))))
    colour = paint(sun & ((x.abs() ** 8 + y.abs() ** 8) ** 0.125 > 0.6), colour2)
    return colour, label


@dataclass
class HeadRender:
    image: torch.Tensor         # (B, 3, H, W) float in [-1, 1]
    labels: torch.Tensor        # (B, H, W) int64, PART_LABELS ids
    depth: torch.Tensor         # (B, H, W) distance along the pixel's ray to the surface; inf on the background
    camera: torch.Tensor        # (B, 25) EG3D's conditioning: cam2world (16) + normalised intrinsics (9)


def render_scenes(prims: Primitives, look: Appearance, camera: torch.Tensor, *, size: int,
                  supersample: int = 2) -> HeadRender:
    """Ray cast B scenes from cameras c (B, 25) at size x size pixels, supersample^2 rays per pixel."""
    s, B = supersample, camera.shape[0]
    n = size * s
    hits = cast(prims, camera, n)                                                # (B, n*n) rays
    base, label = _texture(look, hits.index, hits.local)
    light = hits.dirs.new_tensor(_LIGHT)
    shade = _AMBIENT + (1 - _AMBIENT) * (hits.normal @ light).clamp_min(0)       # (B, P)
    rgb = torch.where(hits.hit[..., None], base * shade[..., None], look.background[:, None, :])
    label = torch.where(hits.hit, label, LABEL["background"])
    # (B, n, n, ...) -> pixels: mean colour and mean depth of the rays that hit; labels by weighted vote (2D rule)
    rgb = rgb.reshape(B, size, s, size, s, 3).mean(dim=(2, 4))
    hit = hits.hit.reshape(B, size, s, size, s).float()
    t = torch.where(hits.hit, hits.t, torch.zeros_like(hits.t)).reshape(B, size, s, size, s)
    depth = (t * hit).sum(dim=(2, 4)) / hit.sum(dim=(2, 4)).clamp_min(1)
    votes = label.reshape(B * n, n).to(torch.uint8).cpu().numpy()
    labels = torch.from_numpy(reduce_labels(votes, s).astype(np.int64)).reshape(B, size, size).to(depth.device)
    depth = torch.where(labels == LABEL["background"], torch.full_like(depth, float("inf")), depth)
    return HeadRender(image=rgb.permute(0, 3, 1, 2) * 2 - 1, labels=labels, depth=depth, camera=camera)


def render_heads(attrs: list[FaceAttributes], camera: torch.Tensor, *, size: int = 64,
                 supersample: int = 2) -> HeadRender:
    """Render each head from its camera (c (B, 25), e.g. `cameras.cameras(yaw, pitch)`)."""
    if len(attrs) != camera.shape[0]:
        raise ValueError(f"{len(attrs)} heads for {camera.shape[0]} cameras")
    if size < 8 or supersample < 1:
        raise ValueError(f"size must be >= 8 and supersample >= 1, got {size}, {supersample}")
    prims, look = build_scenes(attrs, device=camera.device)
    return render_scenes(prims, look, camera, size=size, supersample=supersample)


def head_cameras(seeds, *, camera_range: cams.CameraRange = cams.DEFAULT_RANGE) -> torch.Tensor:
    """c (B, 25) of each seed's own view: yaw and pitch uniform over the range, drawn from the seed."""
    poses = np.array([cams.sample_pose(int(s), camera_range=camera_range) for s in seeds]).reshape(-1, 2)
    return cams.cameras(poses[:, 0], poses[:, 1], camera_range=camera_range)


def toy_heads(seeds, *, size: int = 64, camera: torch.Tensor | None = None, supersample: int = 2,
              camera_range: cams.CameraRange = cams.DEFAULT_RANGE) -> HeadRender:
    """The heads of `seeds` (attributes from `sample_attributes(seed)`), each from its own random view, or from
    `camera` (B, 25) where given."""
    seeds = [int(s) for s in seeds]
    camera = head_cameras(seeds, camera_range=camera_range) if camera is None else camera
    return render_heads([sample_attributes(s) for s in seeds], camera, size=size, supersample=supersample)


class ToyHeadsDataset(Dataset):
    """3D toy heads for the seeds in `seeds`, each from its seed's view; item i is the head of `seeds[i]`.
    A DataLoader fetches a whole batch with one vectorised render (`__getitems__`)."""

    def __init__(self, *, size: int = 64, seeds=range(0, 100_000), supersample: int = 2,
                 camera_range: cams.CameraRange = cams.DEFAULT_RANGE):
        self.size = size                  # output side in pixels
        self.seeds = seeds                # any indexable of ints; TRAIN_SEEDS / HELDOUT_SEEDS sub-ranges as in 2D
        self.supersample = supersample    # rays per pixel along each side (antialiasing); 1 = one ray per pixel
        self.camera_range = camera_range  # where the views are drawn from

    def __len__(self) -> int:
        return len(self.seeds)

    def __getitem__(self, i: int) -> dict:
        return self.__getitems__([i])[0]

    def __getitems__(self, indices) -> list[dict]:
        seeds = [int(self.seeds[i]) for i in indices]
        attrs = [sample_attributes(s) for s in seeds]
        out = render_heads(attrs, head_cameras(seeds, camera_range=self.camera_range), size=self.size,
                           supersample=self.supersample)
        return [{"image": out.image[j], "mask": out.labels[j], "depth": out.depth[j], "camera": out.camera[j],
                 "attributes": torch.tensor(list(a.as_indices().values()), dtype=torch.int64), "seed": s}
                for j, (a, s) in enumerate(zip(attrs, seeds))]
