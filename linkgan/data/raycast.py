"""Vectorised ray casting against clipped ellipsoids, the one shape the 3D toy heads are built of (docs/3d.md,
"Renderer").

A scene is a batch of B scenes with K primitive slots each. A primitive is an ellipsoid (centre, radii, rotation)
whose surface can be cut away twice: by a world-space half-space (`clip_normal . p >= clip_offset` is kept: hair caps,
a beard below the mouth) and by a ring in its own frame (kept where `ring_lo <= |(x, y)|_q <= ring_hi`, (x, y) on
the unit sphere it is mapped to: the rim of a lens). Where the nearer surface is cut away the ray may still hit the
farther one (the inside of a hair cap), so both roots are tried. One Python loop runs over the K slots; everything
inside it works at once on all the rays of all B scenes that pass near the slot's primitive.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from .. import cameras as cams

_EPS = 1e-6


@dataclass
class Primitives:
    """K primitive slots for each of B scenes. Unused slots have valid = False."""
    centre: torch.Tensor        # (B, K, 3) world position
    radii: torch.Tensor         # (B, K, 3) semi-axes along the primitive's own x, y, z
    rotation: torch.Tensor      # (B, K, 3, 3) columns = the primitive's axes in world space
    clip_normal: torch.Tensor   # (B, K, 3) world-space half-space that is kept: clip_normal . p >= clip_offset;
    clip_offset: torch.Tensor   # (B, K)      normal 0 and offset -1 keep everything
    ring_lo: torch.Tensor       # (B, K) ring kept in the primitive's unit-sphere (x, y): ring_lo <= |(x, y)|_q
    ring_hi: torch.Tensor       # (B, K)   <= ring_hi; 0 and 2 keep everything (|(x, y)| <= 1 on the sphere)
    ring_q: torch.Tensor        # (B, K) exponent of the ring's norm: 2 round, 8 a rounded square
    valid: torch.Tensor         # (B, K) bool

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.valid.shape)

    def to(self, device) -> "Primitives":
        return Primitives(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


@dataclass
class Hits:
    """First visible surface along each ray; index -1 and t = inf where the ray hits nothing."""
    t: torch.Tensor             # (B, P) distance along the (unit) ray
    index: torch.Tensor         # (B, P) int64 primitive slot, -1 for a miss
    local: torch.Tensor         # (B, P, 3) hit point on the unit sphere of the primitive's frame (zeros for a miss)
    normal: torch.Tensor        # (B, P, 3) unit world-space surface normal, facing the ray (zeros for a miss)
    dirs: torch.Tensor          # (B, P, 3) the rays' unit directions

    @property
    def hit(self) -> torch.Tensor:
        return self.index >= 0


def _ring_norm(xy: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """|(x, y)|_q for xy (..., 2) and q broadcastable to (...)."""
    return (xy.abs().clamp_min(1e-12) ** q[..., None]).sum(-1) ** (1.0 / q)


def _screen_boxes(centre: torch.Tensor, half: torch.Tensor, camera: torch.Tensor, n: int) -> torch.Tensor:
    """Pixel rows and columns (B, 4) int64 (row0, row1, col0, col1, inclusive; row1 < row0 when empty) that a world
    box (centre, half extents: (B, 3) each) covers in each scene's camera: the 2D bounds of its 8 projected corners,
    or the whole image when the box reaches behind the camera."""
    cam2world, K = cams.unpack(camera)
    signs = torch.tensor([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=half.dtype,
                         device=half.device)
    corners = centre[:, None] + signs * half[:, None] - cam2world[:, None, :3, 3]           # (B, 8, 3), from the eye
    cam = (corners[..., None] * cam2world[:, None, :3, :3]).sum(-2)                       # (B, 8, 3): camera frame
    ahead = (cam[..., 2] > 1e-3).all(-1)                                                  # (B,)
    z = cam[..., 2].clamp_min(1e-3)

    def span(coord, f, c):
        u = coord / z * f[:, None] + c[:, None]                                           # (B, 8) in [0, 1] units
        # pixel i has its centre at (i + 0.5) / n: the first and last centres inside [min u, max u]
        first = torch.where(ahead, torch.ceil(u.amin(-1) * n - 0.5), torch.zeros_like(u[:, 0])).clamp(0, n)
        last = torch.where(ahead, torch.floor(u.amax(-1) * n - 0.5), torch.full_like(u[:, 0], n - 1)).clamp(-1, n - 1)
        return first.long(), last.long()

    return torch.stack([*span(cam[..., 1], K[:, 1, 1], K[:, 1, 2]), *span(cam[..., 0], K[:, 0, 0], K[:, 0, 2])], -1)


def _box_pixels(boxes: torch.Tensor, n: int) -> torch.Tensor:
    """Flat indices (into B * n * n, row-major) of every pixel of each scene's box (B, 4) from `_screen_boxes`."""
    r0, r1, c0, c1 = boxes.unbind(-1)
    h, w = (r1 - r0 + 1).clamp_min(0), (c1 - c0 + 1).clamp_min(0)
    count = h * w
    scene = torch.repeat_interleave(torch.arange(len(boxes), device=boxes.device), count)     # (N,)
    offset = torch.arange(len(scene), device=boxes.device) - (torch.cumsum(count, 0) - count)[scene]
    ws = w[scene].clamp_min(1)
    return scene * n * n + (r0[scene] + offset // ws) * n + c0[scene] + offset % ws


def cast(prims: Primitives, camera: torch.Tensor, n: int) -> Hits:
    """Nearest kept intersection with the primitives of the ray through the centre of every pixel of an n x n image
    from each scene's camera (c (B, 25), `cameras.rays`)."""
    B = camera.shape[0]
    if prims.shape[0] != B:
        raise ValueError(f"{prims.shape[0]} scenes for {B} cameras")
    dirs = cams.rays(camera, n)[1]                                                   # (B, P, 3)
    P = n * n
    eye = cams.unpack(camera)[0][:, :3, 3]                                           # (B, 3)
    dirs_flat = dirs.reshape(B * P, 3)
    best_t = dirs.new_full((B * P,), float("inf"))
    best_k = torch.full((B * P,), -1, dtype=torch.long, device=dirs.device)
    best_local, best_normal = dirs.new_zeros(B * P, 3), dirs.new_zeros(B * P, 3)
    for k in range(prims.shape[1]):
        valid = prims.valid[:, k]                                                    # (B,)
        if not bool(valid.any()):
            continue
        # Cull first: only the pixels in the screen box of the slot's primitive are tested (most parts are small).
        R, r = prims.rotation[:, k], prims.radii[:, k]                               # (B, 3, 3), (B, 3)
        to_centre = prims.centre[:, k] - eye                                         # (B, 3)
        # the world-axis box around the rotated ellipsoid: half extent along world axis i is |row i of R diag(r)|
        boxes = _screen_boxes(prims.centre[:, k], (R * r[:, None, :]).norm(dim=-1), camera, n)
        boxes[~valid, 1] = -1                                                        # no pixel for an unused slot
        flat = _box_pixels(boxes, n)                                                 # (N,) index into B * P
        if len(flat) == 0:
            continue
        bi = flat // P
        # Per-scene constants, gathered once per ray: the eye in the unit-sphere frame and M = R / radii (a world
        # direction d maps to d @ M there; as rows: v @ R = (R^T v)^T).
        M = R / r[:, None, :]
        o_local = (-to_centre[:, :, None] * M).sum(1)                                # (B, 3)
        o, Mn = torch.cat([o_local, M.reshape(B, 9)], dim=-1)[bi].split([3, 9], dim=-1)
        Mn = Mn.reshape(-1, 3, 3)
        dn = dirs_flat[flat]                                                         # (N, 3)
        d = dn[:, 0:1] * Mn[:, 0] + dn[:, 1:2] * Mn[:, 1] + dn[:, 2:3] * Mn[:, 2]
        a = d.square().sum(-1)
        b = (o * d).sum(-1)
        disc = b.square() - a * (o.square().sum(-1) - 1.0)
        sq = disc.clamp_min(0).sqrt()
        current = best_t[flat]
        clipped = bool(prims.clip_normal[:, k].any())                                # skip the tests no scene uses
        ringed = bool(((prims.ring_lo[:, k] > 0) | (prims.ring_hi[:, k] < 1)).any())
        if clipped:
            clip = torch.cat([prims.clip_normal[:, k], prims.clip_offset[:, k, None], eye], dim=-1)[bi]  # (N, 7)
        if ringed:
            ring = torch.stack([prims.ring_lo[:, k], prims.ring_hi[:, k], prims.ring_q[:, k]], dim=-1)[bi]  # (N, 3)
        # An uncut ellipsoid is seen at its near root; a cut one may show its far side through the cut.
        roots = ((-b + sq) / a, (-b - sq) / a) if clipped or ringed else ((-b - sq) / a,)
        hit_t = torch.full_like(current, float("inf"))
        for t in roots:                                                              # the near root last: it wins
            keep = (disc > 0) & (t > _EPS) & (t < current)
            if clipped:
                keep &= ((clip[:, 4:] + t[:, None] * dn) * clip[:, :3]).sum(-1) >= clip[:, 3]
            if ringed:
                norm = _ring_norm((o + t[:, None] * d)[:, :2], ring[:, 2])
                keep &= (norm >= ring[:, 0]) & (norm <= ring[:, 1])
            hit_t = torch.where(keep, t, hit_t)
        better = (hit_t < current).nonzero()[:, 0]
        flat, hit_t = flat[better], hit_t[better]
        local = o[better] + hit_t[:, None] * d[better]
        best_t[flat], best_k[flat], best_local[flat] = hit_t, k, local
        # normal of an ellipsoid: R (p_local / radii), normalised below
        Rb, rb = R[bi[better]], r[bi[better]]
        best_normal[flat] = (Rb * (local / rb)[:, None, :]).sum(-1)
    best_t, best_k, best_local = best_t.view(B, P), best_k.view(B, P), best_local.view(B, P, 3)
    normal = torch.nn.functional.normalize(best_normal.view(B, P, 3), dim=-1)
    normal = torch.where(((normal * dirs).sum(-1, keepdim=True) > 0), -normal, normal)   # face the ray (a cap's inside)
    return Hits(t=best_t, index=best_k, local=best_local, normal=normal, dirs=dirs)


def gather(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Values of the slot each ray hit: values (B, K, ...) and index (B, P) -> (B, P, ...); misses read slot 0."""
    B, P = index.shape
    idx = index.clamp_min(0).reshape(B, P, *([1] * (values.ndim - 2)))
    return torch.gather(values, 1, idx.expand(B, P, *values.shape[2:]))
