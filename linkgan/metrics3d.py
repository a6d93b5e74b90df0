"""LinkGAN's link metrics on a 3D-aware generator (Zhu et al. 2023, Sec. 4 and its EG3D experiment; docs/3d.md,
"Metrics"): the 2D masked-MSE protocols (editing precision, leakage) averaged over several views, the change of depth
inside vs outside a link's region under its resample, how consistently an attribute reader sees a face across views,
and the render time per view.

A view is (yaw, pitch) in degrees. `FromView(G, yaw, pitch)` is G seen from one camera with the 2D Generator's calls,
so the 2D metric functions (linkgan.links, linkgan.control) run on it unchanged; it keeps the renders of the codes it
has seen, because those functions render the same codes several times and 3D renders are costly.
"""
from __future__ import annotations

import statistics
import time
from collections import Counter
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from . import cameras as cams
from .control import control_totals, summarize_totals
from .data import ATTRIBUTES, sample_attributes
from .data.attributes import hidden_in_reading
from .links import Link, Segmenter, link_metrics, region_masks, resample

# Views as fractions of the camera range's (yaw, pitch) limits: the front, then the yaw ends, the pitch ends, corners.
_VIEW_FRACTIONS = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, 1), (-1, 1), (1, -1))


def metric_views(camera_range: cams.CameraRange, n: int = 5) -> list[tuple[float, float]]:
    """n fixed views (yaw, pitch) in degrees over the range: the front, the two yaw ends, the two pitch ends, then
    the corners (n <= 9)."""
    if not 1 <= n <= len(_VIEW_FRACTIONS):
        raise ValueError(f"n must be in [1, {len(_VIEW_FRACTIONS)}], got {n}")
    return [(fy * camera_range.yaw_deg, fp * camera_range.pitch_deg) for fy, fp in _VIEW_FRACTIONS[:n]]


class FromView:
    """A 3D generator seen from one view: `synthesize(ws, noise_mode=...)` renders that camera; every other attribute
    (map, z_from_seeds, broadcast, w_avg, config) is G's. Renders are kept by the codes' values (`render`)."""

    def __init__(self, G, yaw: float, pitch: float):
        self.G, self.yaw, self.pitch = G, float(yaw), float(pitch)
        self.camera = cams.cameras([self.yaw], [self.pitch], camera_range=G.config.camera_range).to(G.w_avg.device)
        self._renders: dict[tuple, tuple[torch.Tensor, ...]] = {}

    def __getattr__(self, name):          # called only for what FromView itself lacks
        return getattr(self.G, name)

    def render(self, ws: torch.Tensor, *, noise_mode: str = "const") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(image (B, 3, H, W), depth (B, n, n), opacity (B, n, n)) of codes ws (W+, or W broadcast to every row)
        seen from this view."""
        if ws.ndim == 2:
            ws = self.G.broadcast(ws)              # one key for a code however it is passed
        key = (tuple(ws.shape), noise_mode, ws.detach().cpu().numpy().tobytes())
        if noise_mode == "random" or key not in self._renders:
            out = self.G.render(ws, self.camera.expand(ws.shape[0], -1), noise_mode=noise_mode)
            if noise_mode == "random":
                return out.image, out.depth, out.opacity
            self._renders[key] = (out.image, out.depth, out.opacity)
        return self._renders[key]

    def synthesize(self, ws: torch.Tensor, *, noise_mode: str = "const") -> torch.Tensor:
        return self.render(ws, noise_mode=noise_mode)[0]


def _view(G, yaw: float, pitch: float, renders: dict | None) -> FromView:
    """G seen from (yaw, pitch); kept in `renders` (a dict a caller passes to several metrics of the same G and faces)
    so that the next metric finds the renders this one made."""
    if renders is None:
        return FromView(G, yaw, pitch)
    view = renders.get((float(yaw), float(pitch)))
    if view is None or view.G is not G:
        view = renders[(float(yaw), float(pitch))] = FromView(G, yaw, pitch)
    return view


def depth_change(depth_x: torch.Tensor, depth_y: torch.Tensor, region: torch.Tensor,
                 foreground: torch.Tensor) -> tuple[float, float, float, float]:
    """Sums and counts of |depth_y - depth_x| (B, n, n) over the region's pixels and over the foreground pixels
    outside it (masks (B, n, n), bool or {0, 1}): (sum_in, n_in, sum_out, n_out). Background rays are left out of
    the outside term, where nothing can change and every zero would flatter the link."""
    d = (depth_y - depth_x).abs()
    inside, outside = region.bool(), ~region.bool() & foreground.bool()
    return float(d[inside].sum()), float(inside.sum()), float(d[outside].sum()), float(outside.sum())


def _depth_sums(view: FromView, link: Link, w: torch.Tensor, w_new: torch.Tensor,
                segmenter: Segmenter | None) -> tuple[float, float, float, float]:
    """depth_change of one view's faces under the link's resample; the region is the segmenter's part in the
    original render (or, for a link that follows its part, in either), taken to the depth's resolution."""
    ws_x, ws_y = view.broadcast(w), view.broadcast(resample(w, w_new, [link]))
    (x, dx, ox), (y, dy, oy) = view.render(ws_x), view.render(ws_y)
    m = region_masks([link], x, segmenter)[:, 0]
    if link.follow:
        m = torch.maximum(m, region_masks([link], y, segmenter)[:, 0])
    region = F.interpolate(m[:, None], size=dx.shape[-2:], mode="area")[:, 0] >= 0.5
    return depth_change(dx, dy, region, (ox > 0.5) | (oy > 0.5))


@torch.no_grad()
def link_metrics_3d(G, links: Sequence[Link], *, seeds: Sequence[int], views: Sequence[tuple[float, float]],
                    segmenter: Segmenter | None = None, psi: float = 1.0, batch_size: int = 25,
                    renders: dict | None = None) -> dict[str, dict]:
    """Per link, over the faces of `seeds` (each resampled towards seed + 10^9, as linkgan.links.link_metrics) and the
    given views: mse_in, mse_out, leak_in, leak_out (x1e-3, means over the views), ratio = mse_out / mse_in; depth_in
    and depth_out (mean |change of expected depth| inside the region and on the head outside it, x1e-3 world units,
    pooled over views and pixels), depth_ratio = depth_out / depth_in; and mse_in / mse_out of each view. `renders`:
    a dict shared with `region_control_3d` on the same G, faces and batch size, which then renders nothing again."""
    seeds, links = list(seeds), list(links)
    per_view, depth = [], {l.name: [0.0, 0.0, 0.0, 0.0] for l in links}
    for yaw, pitch in views:
        view = _view(G, yaw, pitch, renders)
        per_view.append(link_metrics(view, links, seeds=seeds, psi=psi, segmenter=segmenter, batch_size=batch_size))
        device = G.w_avg.device
        for i in range(0, len(seeds), batch_size):             # the same codes: the renders are view's own
            chunk = seeds[i:i + batch_size]
            w = G.map(G.z_from_seeds(chunk, device=device), psi=psi)
            w_new = G.map(G.z_from_seeds([s + 10**9 for s in chunk], device=device), psi=psi)
            for l in links:
                depth[l.name] = [a + b for a, b in zip(depth[l.name], _depth_sums(view, l, w, w_new, segmenter))]
    out = {}
    for l in links:
        keys = ("mse_in", "mse_out", "leak_in", "leak_out")
        avg = {k: statistics.fmean(v[l.name][k] for v in per_view) for k in keys}
        s_in, n_in, s_out, n_out = depth[l.name]
        d_in, d_out = 1e3 * s_in / max(n_in, 1.0), 1e3 * s_out / max(n_out, 1.0)
        out[l.name] = {**{k: round(v, 4) for k, v in avg.items()},
                       "ratio": round(avg["mse_out"] / max(avg["mse_in"], 1e-12), 4),
                       "depth_in": round(d_in, 4), "depth_out": round(d_out, 4),
                       "depth_ratio": round(d_out / max(d_in, 1e-12), 4),
                       "views": {f"{yaw:+g},{pitch:+g}": {k: v[l.name][k] for k in ("mse_in", "mse_out")}
                                 for (yaw, pitch), v in zip(views, per_view)}}
    return out


def _agreement(readings: Sequence[dict[str, list[str]]], truth: Sequence[dict[str, str]] | None = None
               ) -> dict[str, float]:
    """readings: per view, {attribute: class name per face}. Per attribute, the mean over faces of the share of views
    that read the face's true class (`truth`) or, without it, the face's most common reading. A face counts for an
    attribute only where it is visible (by the truth, or by the face's most common readings)."""
    n = len(readings[0][next(iter(readings[0]))])
    per_face = [{k: Counter(r[k][i] for r in readings) for k in readings[0]} for i in range(n)]
    want = truth or [{k: c.most_common(1)[0][0] for k, c in face.items()} for face in per_face]
    out = {}
    for k in readings[0]:
        shares = [per_face[i][k][want[i][k]] / len(readings) for i in range(n) if k not in hidden_in_reading(want[i])]
        out[k] = round(sum(shares) / len(shares), 4) if shares else None
    return out


@torch.no_grad()
def view_consistency(G, read: Callable[[torch.Tensor], dict[str, list[str]]], *, seeds: Sequence[int],
                     views: Sequence[tuple[float, float]], psi: float = 1.0) -> dict[str, float | None]:
    """Per attribute, the mean over faces of the share of views in which `read` (images -> {attribute: class names},
    e.g. `AttributeOracle.predict`) gives the face's most common reading: 1 = the same in every view. Attributes
    hidden by a face's most common reading (the colour of closed eyes) are left out for that face; None where no
    face shows the attribute."""
    w = G.map(G.z_from_seeds(list(seeds), device=G.w_avg.device), psi=psi)
    return _agreement([read(FromView(G, yaw, pitch).synthesize(w)) for yaw, pitch in views])


@torch.no_grad()
def heads_view_consistency(read: Callable[[torch.Tensor], dict[str, list[str]]], *, seeds: Sequence[int],
                           views: Sequence[tuple[float, float]],
                           camera_range: cams.CameraRange = cams.DEFAULT_RANGE) -> dict[str, float | None]:
    """The procedural 3D toy heads of `seeds` seen from every view: per attribute, the mean over heads of the share of
    views in which `read` gives the head's true class (attributes a head hides are left out for it). Whether a
    reader, e.g. the heads' attribute oracle, can be trusted from every angle of the range."""
    from .data.heads3d import render_heads

    attrs = [sample_attributes(int(s)) for s in seeds]
    truth = [{k: getattr(a, k) for k in ATTRIBUTES} for a in attrs]
    readings = [read(render_heads(attrs, cams.cameras([yaw] * len(attrs), [pitch] * len(attrs),
                                                      camera_range=camera_range)).image)
                for yaw, pitch in views]
    return _agreement(readings, truth)


@torch.no_grad()
def region_control_3d(G, links: Sequence[Link], oracle, *, seeds: Sequence[int],
                      views: Sequence[tuple[float, float]], psi: float = 1.0, batch_size: int = 25,
                      renders: dict | None = None) -> dict[str, dict]:
    """The 2D region control (`linkgan.control`: linked / unlinked / natural per region attribute, elsewhere) of G's
    links, with the oracle's reads pooled over the faces of `seeds` seen from every view: an edit counts in every view
    where the oracle sees it. `renders`: as `link_metrics_3d`'s (the faces it rendered, at the same batch size, are
    not rendered again)."""
    total: dict = {}
    for yaw, pitch in views:
        control_totals(_view(G, yaw, pitch, renders), links, oracle, seeds=seeds, psi=psi, batch_size=batch_size,
                       total=total)
    return summarize_totals(total, links)


@torch.no_grad()
def render_ms(G, *, views: Sequence[tuple[float, float]], runs: int = 5, seed: int = 0) -> float:
    """Median milliseconds to render one face from one view (noise_mode "const"), over runs x views renders after
    one untimed render per view."""
    w = G.map(G.z_from_seeds([seed], device=G.w_avg.device))
    synth = [FromView(G, yaw, pitch) for yaw, pitch in views]
    for v in synth:
        v.G.render(w, v.camera, noise_mode="const")
    times = []
    for _ in range(runs):
        for v in synth:
            t0 = time.perf_counter()
            v.G.render(w, v.camera, noise_mode="const")        # past the cache: every render is timed
            times.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(times)


@torch.no_grad()
def generated_views(G, seeds: Sequence[int], *, psi: float = 1.0, batch_size: int = 50) -> torch.Tensor:
    """Images (N, 3, H, W) of G's codes for `seeds`, each seen from its seed's own camera (drawn from G's range as
    the training heads' are, `linkgan.data.heads3d.head_cameras`): the generated side of a 3D Fréchet distance,
    whose real side is `toy_heads(other seeds).image`. Untruncated by default; ray samples placed deterministically."""
    from .data.heads3d import head_cameras

    seeds = [int(s) for s in seeds]
    device = G.w_avg.device
    out = []
    for i in range(0, len(seeds), batch_size):
        chunk = seeds[i:i + batch_size]
        c = head_cameras(chunk, camera_range=G.config.camera_range).to(device)
        out.append(G.synthesize(G.map(G.z_from_seeds(chunk, device=device), psi=psi), c, noise_mode="const").cpu())
    return torch.cat(out)


def frechet_distance_3d(generators: dict, segmenter, *, seeds: Sequence[int], real_seeds: Sequence[int]) -> dict:
    """{name: FD} of each 3D generator's `generated_views` against the 3D toy heads of real_seeds (each from its own
    view), in the feature space of a part segmenter of the heads (`linkgan.quality.segmenter_features`): the linked
    and unlinked generators are compared in one feature space, on the same seeds and views."""
    from .data.heads3d import toy_heads
    from .quality import frechet_distance, segmenter_features

    sizes = {G.config.resolution for G in generators.values()}
    if len(sizes) != 1:
        raise ValueError(f"the generators compared in one Fréchet distance must share a resolution, got {sorted(sizes)}")
    real = segmenter_features(segmenter, toy_heads(list(real_seeds), size=sizes.pop()).image)
    return {name: round(frechet_distance(segmenter_features(segmenter, generated_views(G, seeds)), real), 4)
            for name, G in generators.items()}
