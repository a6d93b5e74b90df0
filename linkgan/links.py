"""LinkGAN links (Zhu et al. 2023, "LinkGAN: Linking GAN Latents to Pixels", Sec. 3.2): axes of W tied to
image regions, the regularizer that builds the link during training, the test-time resample edit, and the
paper's masked-MSE metrics (Sec. 4, Tables 2-3).

A link is (axes of W, region). Regions: a fixed box in normalised coordinates, a half image, any fixed mask,
or semantic labels of a segmenter run on the generated image. A semantic region may `follow` its part: then the
mask is the union of the part in the original and in the perturbed image, so a part that changes shape (hair
grown longer, an eye closing) is judged where it is in either image (a project choice; the paper's semantic
mask is the original image's, which punishes every change of shape as a change outside). Links are disjoint
in axes and regions. A link may name its region attributes (what the attribute oracle reads there), which the
region-control metric (`linkgan.control`) uses.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

Segmenter = Callable[[torch.Tensor], torch.Tensor]   # images (B,3,H,W) in [-1,1] -> labels (B,H,W) int


@dataclass(frozen=True)
class Link:
    name: str
    axes: tuple[int, int]                 # [start, stop) of W's channels (the paper: the first 64 of 512)
    box: tuple[float, float, float, float] | None = None   # fixed region (x0, y0, x1, y1) in [0, 1]
    half: str | None = None               # fixed region: "top", "bottom", "left" or "right"
    label: int | None = None              # semantic region: one label of the segmenter's output (or `labels`)
    mask: torch.Tensor | None = field(default=None, compare=False)  # any fixed (H, W) bool mask
    labels: tuple[int, ...] | None = None  # semantic region: several labels (e.g. eyes + glasses)
    follow: bool = False                  # semantic only: mask = part in the original OR in the perturbed image
    attributes: tuple[str, ...] = ()      # oracle attributes drawn in the region (region-control metric)

    @property
    def semantic(self) -> bool:
        return self.label is not None or self.labels is not None

    @property
    def kind(self) -> str:
        if not self.semantic:
            return "fixed"
        return "semantic-follow" if self.follow else "semantic"

    @property
    def label_ids(self) -> tuple[int, ...]:
        """The segmenter labels of a semantic region (empty for a fixed one)."""
        if self.labels is not None:
            return tuple(self.labels)
        return () if self.label is None else (self.label,)

    def axis_mask(self, w_dim: int) -> torch.Tensor:
        m = torch.zeros(w_dim, dtype=torch.bool)
        m[self.axes[0]:self.axes[1]] = True
        return m

    def fixed_mask(self, resolution: int) -> torch.Tensor:
        """(H, W) float {0, 1} region mask of a fixed link."""
        r = resolution
        if self.mask is not None:
            return self.mask.float()
        m = torch.zeros(r, r)
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            m[round(y0 * r):round(y1 * r), round(x0 * r):round(x1 * r)] = 1.0
        elif self.half is not None:
            h = r // 2
            sl = {"top": (slice(0, h), slice(None)), "bottom": (slice(h, r), slice(None)),
                  "left": (slice(None), slice(0, h)), "right": (slice(None), slice(h, r))}[self.half]
            m[sl] = 1.0
        return m

    def to_spec(self) -> dict:
        """The JSON spec of this link (what `links_from_specs` reads back); fixed masks have none."""
        if self.mask is not None:
            raise ValueError(f"link {self.name!r} has a tensor mask, which has no JSON spec")
        spec: dict = {"name": self.name, "axes": list(self.axes)}
        if self.box is not None:
            spec["box"] = list(self.box)
        elif self.half is not None:
            spec["half"] = self.half
        elif self.labels is not None:
            spec["labels"] = list(self.labels)
        else:
            spec["label"] = self.label
        if self.follow:
            spec["follow"] = True
        if self.attributes:
            spec["attributes"] = list(self.attributes)
        return spec


def _part_ids(parts) -> tuple[int, ...]:
    from .data import PART_LABELS
    if isinstance(parts, str) or not parts:
        raise ValueError(f"parts must be a non-empty list of part names from {PART_LABELS}, got {parts!r}")
    unknown = [p for p in parts if p not in PART_LABELS]
    if unknown:
        raise ValueError(f"unknown parts {unknown}; the segmenter's parts are {', '.join(PART_LABELS)}")
    return tuple(PART_LABELS.index(p) for p in parts)


def links_from_specs(specs: Sequence[dict]) -> list[Link]:
    """Links from JSON specs: {"name", "axes": [a, b], one region: "box": [x0, y0, x1, y1], "half", "label",
    "labels": [ids] or "parts": [names of linkgan.data.PART_LABELS]; optional "follow": true (semantic regions)
    and "attributes": [oracle attribute names]}."""
    out = []
    for spec in specs:
        spec = dict(spec)
        try:
            labels = spec.pop("labels", None)
            if "parts" in spec:
                if labels is not None:
                    raise ValueError("give labels or parts, not both")
                labels = _part_ids(spec.pop("parts"))
            out.append(Link(name=spec.pop("name"), axes=tuple(spec.pop("axes")),
                            box=tuple(spec.pop("box")) if "box" in spec else None,
                            half=spec.pop("half", None), label=spec.pop("label", None),
                            labels=None if labels is None else tuple(int(i) for i in labels),
                            follow=bool(spec.pop("follow", False)),
                            attributes=tuple(spec.pop("attributes", ()))))
        except (KeyError, TypeError) as e:
            raise ValueError(f"bad link spec {spec}: needs name, axes [a, b] and a region ({e})") from e
        if spec:
            raise ValueError(f"unknown link spec keys {sorted(spec)}")
    return out


def generator_links(G) -> dict[str, Link]:
    """The links a trained generator was made with (stored in its config.json), by name."""
    links = links_from_specs(getattr(G, "metadata", {}).get("links", []))
    validate_links(links, w_dim=G.config.w_dim, resolution=G.config.resolution)
    return {l.name: l for l in links}


def validate_links(links: Sequence[Link], *, w_dim: int, resolution: int) -> None:
    """Reject malformed, overlapping (axes or regions) and empty links with a clear message."""
    names = [l.name for l in links]
    if len(set(names)) != len(names):
        raise ValueError(f"link names must be unique, got {names}")
    for l in links:
        a0, a1 = l.axes
        if not (0 <= a0 < a1 <= w_dim):
            raise ValueError(f"link {l.name!r}: axes [{a0}, {a1}) out of range for w_dim={w_dim}")
        kinds = sum(x is not None for x in (l.box, l.half, l.mask)) + l.semantic
        if kinds != 1 or (l.label is not None and l.labels is not None):
            raise ValueError(f"link {l.name!r}: give exactly one region (box, half, label(s) or mask), got {kinds}")
        if l.box is not None:
            x0, y0, x1, y1 = l.box
            if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
                raise ValueError(f"link {l.name!r}: box {l.box} must satisfy 0 <= x0 < x1 <= 1, 0 <= y0 < y1 <= 1")
        if l.half is not None and l.half not in ("top", "bottom", "left", "right"):
            raise ValueError(f"link {l.name!r}: half must be top/bottom/left/right, got {l.half!r}")
        if l.mask is not None and tuple(l.mask.shape) != (resolution, resolution):
            raise ValueError(f"link {l.name!r}: mask shape {tuple(l.mask.shape)} != ({resolution}, {resolution})")
        if l.semantic and (not l.label_ids or any(not isinstance(i, int) or i < 0 for i in l.label_ids)):
            raise ValueError(f"link {l.name!r}: semantic labels must be non-negative integers, got {l.label_ids}")
        if l.follow and not l.semantic:
            raise ValueError(f"link {l.name!r}: follow applies to semantic regions only")
        if not l.semantic and l.fixed_mask(resolution).sum() == 0:
            raise ValueError(f"link {l.name!r}: its region is empty at {resolution} px")
    for i, a in enumerate(links):
        for b in links[i + 1:]:
            if a.axes[0] < b.axes[1] and b.axes[0] < a.axes[1]:
                raise ValueError(f"links {a.name!r} and {b.name!r} share axes {a.axes} / {b.axes}")
            if not a.semantic and not b.semantic:
                if (a.fixed_mask(resolution) * b.fixed_mask(resolution)).sum() > 0:
                    raise ValueError(f"links {a.name!r} and {b.name!r} have overlapping regions")
            elif set(a.label_ids) & set(b.label_ids):
                raise ValueError(f"links {a.name!r} and {b.name!r} use the same semantic label "
                                 f"{sorted(set(a.label_ids) & set(b.label_ids))}")


def part_links(link: Link) -> list[Link]:
    """A semantic link of several labels as one link per label, named "link.part" (same axes, same `follow`), so
    that each part can be measured on its own; any other link as itself."""
    from .data import PART_LABELS
    if not link.semantic or len(link.label_ids) < 2:
        return [link]
    return [Link(name=f"{link.name}.{PART_LABELS[i] if i < len(PART_LABELS) else i}", axes=link.axes, labels=(i,),
                 follow=link.follow) for i in link.label_ids]


def region_masks(links: Sequence[Link], images: torch.Tensor, segmenter: Segmenter | None = None, *,
                 labels: torch.Tensor | None = None) -> torch.Tensor:
    """(B, L, H, W) float masks of every link for these images; semantic ones from the segmenter (or from
    `labels` (B, H, W), the segmenter's output when the caller has it already)."""
    b, _, h, w = images.shape
    out = images.new_zeros(b, len(links), h, w)
    for i, l in enumerate(links):
        if not l.semantic:
            out[:, i] = l.fixed_mask(h).to(images)
            continue
        if labels is None:
            if segmenter is None:
                raise ValueError(f"link {l.name!r} is semantic: a segmenter is required")
            with torch.no_grad():
                labels = segmenter(images.detach())
        ids = torch.tensor(l.label_ids, device=labels.device)
        out[:, i] = torch.isin(labels, ids).to(images)
    return out


def needs_labels(links: Sequence[Link]) -> bool:
    return any(l.semantic for l in links)


def pair_masks(link: Link, m_x: torch.Tensor, mask_y: Callable[[], torch.Tensor]) -> torch.Tensor:
    """The region of a link for an (original, changed) image pair, (B, H, W): the original's mask m_x, or for a
    link that follows its part the union with the changed image's, mask_y() (computed only then)."""
    return torch.maximum(m_x, mask_y()) if link.follow else m_x


def perturb(w: torch.Tensor, axis_mask: torch.Tensor, alpha: float | torch.Tensor) -> torch.Tensor:
    """w + alpha * N(0, I) on the chosen axes only (alpha a scalar or a per-axis (1, w_dim) tensor)."""
    return w + alpha * torch.randn_like(w) * axis_mask.to(w)


def masked_mse(diff_sq: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of squared differences (B,3,H,W) over the pixels of mask (B,H,W), per sample -> (B,)."""
    m = mask.unsqueeze(1).expand_as(diff_sq)
    return (diff_sq * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1.0)


VARIETY_MEASURES = ("pixels", "colour")


def region_change(link: Link, a: torch.Tensor, b: torch.Tensor, m_a: torch.Tensor, mask_b: Callable[[], torch.Tensor],
                  measure: str = "pixels") -> torch.Tensor:
    """How much image b differs from image a in a link's region, per pair (B,), as the variety term measures it:
    "pixels": the mean squared difference over the region (`pair_masks`); "colour": the squared difference of the
    region's mean colour in each image, each with its own mask (mean over RGB), which a change of content (eye
    colour, glasses put on, a mouth opened) moves and pixel noise of zero mean, such as speckle, does not. A region
    absent from one image has mean colour 0 there (black in [-1, 1] is -1): its appearance counts as a change."""
    if measure == "pixels":
        return masked_mse((b - a).square(), pair_masks(link, m_a, mask_b))
    if measure != "colour":
        raise ValueError(f"variety measure must be one of {VARIETY_MEASURES}, got {measure!r}")
    m_b = mask_b() if link.follow else m_a

    def mean_colour(img, m):
        return (img * m.unsqueeze(1)).flatten(2).sum(2) / m.flatten(1).sum(1, keepdim=True).clamp_min(1.0)
    return (mean_colour(b, m_b) - mean_colour(a, m_a)).square().mean(1)


@torch.no_grad()
def region_variety(links: Sequence[Link], a: torch.Tensor, b: torch.Tensor,
                   segmenter: Segmenter | None = None, measure: str = "pixels", root: bool = False) -> dict[str, float]:
    """{link name: `region_change` of the image pairs (a[i], b[i]) (pixels in [-1, 1]), averaged (with `root`, its
    square root per pair, as `pair_change`)}, the region taken as the regularizer takes it: how much two faces of the
    data differ there, the target of the regularizer's variety term."""
    m_a, m_b = region_masks(links, a, segmenter), None
    if any(l.follow for l in links):
        m_b = region_masks(links, b, segmenter)
    return {l.name: float(pair_change(region_change(l, a, b, m_a[:, i], lambda: m_b[:, i], measure), root).mean())
            for i, l in enumerate(links)}


def pair_change(change: torch.Tensor, root: bool) -> torch.Tensor:
    """`region_change` per pair (B,), or with `root` its square root: a distance rather than a squared one, whose
    gradient keeps its size as the change goes to 0 (the square's shrinks with it), so a variety term on it can
    still pull a region that has stopped varying back out."""
    return (change + 1e-8).sqrt() if root else change


def link_regularizer(synthesize: Callable[[torch.Tensor], torch.Tensor], w: torch.Tensor, links: Sequence[Link], *,
                     alpha: float | torch.Tensor, lambda_in: float, lambda_out: float, segmenter: Segmenter | None = None,
                     w_swap: torch.Tensor | None = None, variety: dict[str, float] | None = None,
                     lambda_var: float = 0.0, variety_measure: str = "pixels", variety_root: bool = False
                     ) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
    """LinkGAN's regularizer on a batch of w (B, w_dim):
        L_in  = || M * (G(w with unlinked axes moved) - G(w)) ||^2   (the region ignores the other axes)
        L_out = || (1-M) * (G(w with linked axes moved) - G(w)) ||^2 (the rest ignores the linked axes)
    as means over the masked pixels (a project choice: keeps lambdas comparable across region sizes).
    Axes move by alpha * N(0, I) (the paper), or, given w_swap (B, w_dim) (other faces' mapped w), take w_swap's
    values: the test-time resample itself, whose codes stay in W's own distribution (a project choice).
    Both terms are also met by a region that stops varying. `variety` ({link name: v}, the mean squared difference
    of two real images in that link's region: `region_variety`) adds, with weight lambda_var (a project choice,
    docs/linking.md, "Variety"):
        L_var = max(0, 1 - e / v),   e = the region's change when the linked axes move (mean over the batch)
    so a link must change its region as much as two real faces differ there, and nothing pays for more; the change
    is measured in pixels or in the region's mean colour (`region_change`, variety_measure), with `variety_root` as
    the root of each pair's change (`pair_change`; v must then be measured so too). Keyed by
    the names of `part_links(link)` instead ("eyes.eyes", "eyes.glasses"), the term is taken per part and averaged
    over the link's parts: a large part (glasses) cannot then meet it for a small one (the eyes).
    G(w) and every link's two perturbed batches are rendered by one call of `synthesize` on (1 + 2L) * B codes
    (which may render them at once, as pays on a GPU, or in blocks, as pays on a CPU); `synthesize` must treat each
    row alike (e.g. the same noise for row r of every block). Returns (loss, stats, perturbed images (L, 2, B,
    3, H, W): per link, linked then unlinked axes moved), the perturbed images are also shown to D as fakes."""
    b, n = w.shape[0], len(links)
    moved = []
    for l in links:
        axes = l.axis_mask(w.shape[1]).to(w.device)
        if w_swap is None:
            moved += [perturb(w, axes, alpha), perturb(w, ~axes, alpha)]  # linked, unlinked axes moved
        else:
            moved += [torch.where(axes, w_swap, w), torch.where(axes, w, w_swap)]
    images = synthesize(torch.cat([w, *moved]))                          # ((1 + 2L) B, 3, H, W)
    x, pert = images[:b], images[b:].unflatten(0, (n, 2, b))
    # segment only the blocks a mask is taken from: G(w), and the perturbed images of links that follow their part
    blocks = sorted({0} | {k for i, l in enumerate(links) if l.follow for k in (1 + 2 * i, 2 + 2 * i)})
    labels: dict[int, torch.Tensor] = {}
    if needs_labels(links):
        if segmenter is None:
            raise ValueError("semantic links need a segmenter")
        with torch.no_grad():
            seg = segmenter(torch.cat([images[k * b:(k + 1) * b] for k in blocks]).detach())
        labels = dict(zip(blocks, seg.split(b)))
    loss = x.new_zeros(())
    stats: dict[str, float] = {}
    for i, l in enumerate(links):
        def mask(k: int) -> torch.Tensor:      # k: 0 = G(w), 1 + 2i = linked moved, 2 + 2i = unlinked moved
            return region_masks([l], x, labels=labels.get(k))[:, 0]
        m0 = mask(0)
        m_in = pair_masks(l, m0, lambda: mask(2 + 2 * i))
        m_out = pair_masks(l, m0, lambda: mask(1 + 2 * i))
        l_in = masked_mse((pert[i, 1] - x).square(), m_in).mean()
        l_out = masked_mse((pert[i, 0] - x).square(), 1 - m_out).mean()
        loss = loss + lambda_in * l_in + lambda_out * l_out
        stats[f"{l.name}.L_in"], stats[f"{l.name}.L_out"] = float(l_in.detach()), float(l_out.detach())
        parts = [p for p in part_links(l) if p.name in (variety or {})] or (
            [l] if variety and l.name in variety else [])
        if parts:
            l_var = x.new_zeros(())
            for p in parts:                    # what the link's own axes change in each part (or the whole region)
                m_px = m0 if p is l else region_masks([p], x, labels=labels.get(0))[:, 0]
                edit = pair_change(region_change(p, x, pert[i, 0], m_px,
                                                 lambda: region_masks([p], x, labels=labels.get(1 + 2 * i))[:, 0],
                                                 variety_measure), variety_root).mean()
                l_var = l_var + torch.relu(1 - edit / variety[p.name]) / len(parts)
                stats[f"{p.name}.edit_in"] = float(edit.detach())
            loss = loss + lambda_var * l_var
            stats[f"{l.name}.L_var"] = float(l_var.detach())
    return loss, stats, pert


def _rowwise(w: torch.Tensor, w_new: torch.Tensor) -> torch.Tensor:
    """w_new (B, w_dim) shaped to broadcast against w: (B, w_dim), or W+ (B, num_ws, w_dim) where every row's axes
    move. Raises a clear error for anything else."""
    if w.ndim not in (2, 3) or w_new.ndim != 2 or w_new.shape[0] != w.shape[0] or w_new.shape[1] != w.shape[-1]:
        raise ValueError(f"resample takes w (B, w_dim) or W+ codes (B, num_ws, w_dim) and w_new (B, w_dim) of the "
                         f"same B and w_dim; got {tuple(w.shape)} and {tuple(w_new.shape)}")
    return (w_new if w.ndim == 2 else w_new.unsqueeze(1)).to(w.dtype)


def resample(w: torch.Tensor, w_new: torch.Tensor, links: Sequence[Link], t: float = 1.0) -> torch.Tensor:
    """Test-time edit (a project choice: docs/methods.md, "LinkGAN"): move the linked axes of w towards those of a
    freshly mapped w_new by t in [0, 1]; several links at once. w: (B, w_dim), or a W+ code (B, num_ws, w_dim) whose
    linked axes move in every row (an inverted photo); w_new: (B, w_dim)."""
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"t must be in [0, 1], got {t}")
    target = _rowwise(w, w_new)
    out = w.clone()
    for l in links:
        a0, a1 = l.axes
        out[..., a0:a1] = torch.lerp(w[..., a0:a1], target[..., a0:a1], t)
    return out


# Truncation of the face a region is borrowed from. Untruncated: psi < 1 pulls the borrowed axes towards the mean,
# which draws the common modes only (closed eyes, rare hair colours never come); docs/linking.md has the measure.
RESAMPLE_PSI = 1.0


@torch.no_grad()
def resample_codes(G, links: Sequence[Link], *, seed: int, new_seed: int, ts: Sequence[float], psi: float = 0.7,
                   new_psi: float = RESAMPLE_PSI, w: torch.Tensor | None = None) -> torch.Tensor:
    """Codes (len(ts), ...) of the seed's face at truncation psi (or of a given code w: (1, w_dim), or W+
    (1, num_ws, w_dim), e.g. an inverted photo) with the links' axes moved towards those of new_seed's w (at
    truncation new_psi) by each t. Kept apart from the rendering so the 3D turntable renders the same codes."""
    if w is None:
        w = G.map(G.z_from_seeds([seed]), psi=psi)
    w_new = G.map(G.z_from_seeds([new_seed]), psi=new_psi)
    return torch.cat([resample(w, w_new, links, float(t)) for t in ts])


@torch.no_grad()
def resample_strip(G, links: Sequence[Link], *, seed: int, new_seed: int, ts: Sequence[float], psi: float = 0.7,
                   new_psi: float = RESAMPLE_PSI, w: torch.Tensor | None = None,
                   noise_mode: str = "const") -> torch.Tensor:
    """Images (len(ts), 3, H, W) of `resample_codes` (same arguments) rendered."""
    ws = resample_codes(G, links, seed=seed, new_seed=new_seed, ts=ts, psi=psi, new_psi=new_psi, w=w)
    return G.synthesize(ws, noise_mode=noise_mode)


def _masks(link: Link, x: torch.Tensor, y: torch.Tensor, segmenter: Segmenter | None, *,
           m_x: torch.Tensor | None = None) -> torch.Tensor:
    """The link's region for the pair (x, y) of images (B, H, W), given x's mask m_x if known: see `pair_masks`."""
    m_x = region_masks([link], x, segmenter)[:, 0] if m_x is None else m_x
    return pair_masks(link, m_x, lambda: region_masks([link], y, segmenter)[:, 0])


@torch.no_grad()
def editing_precision(synthesize: Callable[[torch.Tensor], torch.Tensor], w: torch.Tensor, w_new: torch.Tensor,
                      link: Link, *, segmenter: Segmenter | None = None) -> dict[str, float]:
    """LinkGAN Table 2 protocol: resample the linked axes; mse_in / mse_out (x1e-3) inside / outside the region
    (the region of the original image, or of either image for a link that follows its part). w: W codes
    (B, w_dim) or W+ codes (B, num_ws, w_dim)."""
    x = synthesize(w)
    y = synthesize(resample(w, w_new, [link]))
    m = _masks(link, x, y, segmenter)
    d = (y - x).square()
    return {"mse_in": 1e3 * float(masked_mse(d, m).mean()), "mse_out": 1e3 * float(masked_mse(d, 1 - m).mean())}


@torch.no_grad()
def leakage(synthesize: Callable[[torch.Tensor], torch.Tensor], w: torch.Tensor, w_new: torch.Tensor, link: Link, *,
            segmenter: Segmenter | None = None) -> dict[str, float]:
    """LinkGAN Table 3 protocol (both lower is better, x1e-3): leak_in = change inside the region when the
    unlinked axes are resampled; leak_out = change outside when the linked axes are resampled. w: W codes
    (B, w_dim) or W+ codes (B, num_ws, w_dim), whose axes move in every row; w_new: (B, w_dim)."""
    x = synthesize(w)
    axes = link.axis_mask(w.shape[-1]).to(w.device)
    target = _rowwise(w, w_new)
    y_unlinked = synthesize(torch.where(axes, w, target))
    y_linked = synthesize(torch.where(axes, target, w))
    m_x = region_masks([link], x, segmenter)[:, 0]                     # segmented once for both terms
    m_in, m_out = _masks(link, x, y_unlinked, segmenter, m_x=m_x), _masks(link, x, y_linked, segmenter, m_x=m_x)
    return {"leak_in": 1e3 * float(masked_mse((y_unlinked - x).square(), m_in).mean()),
            "leak_out": 1e3 * float(masked_mse((y_linked - x).square(), 1 - m_out).mean())}


@torch.no_grad()
def link_metrics(G, links: Sequence[Link], *, seeds: Sequence[int], psi: float = 1.0,
                 segmenter: Segmenter | None = None, batch_size: int = 50) -> dict[str, dict[str, float]]:
    """Editing precision and leakage (x1e-3) of every link of G, over the faces of `seeds`, each resampled
    towards the face of seed + 10^9 (const noise: only the latent moves). Adds ratio = mse_out / mse_in."""
    seeds = list(seeds)
    out: dict[str, dict[str, float]] = {}
    synth = lambda w_: G.synthesize(G.broadcast(w_), noise_mode="const")  # noqa: E731
    for link in links:
        parts = []
        for i in range(0, len(seeds), batch_size):
            chunk = seeds[i:i + batch_size]
            device = G.w_avg.device
            w = G.map(G.z_from_seeds(chunk, device=device), psi=psi)
            w_new = G.map(G.z_from_seeds([s + 10**9 for s in chunk], device=device), psi=psi)
            m = {**editing_precision(synth, w, w_new, link, segmenter=segmenter),
                 **leakage(synth, w, w_new, link, segmenter=segmenter)}
            parts.append((len(chunk), m))
        n = sum(k for k, _ in parts)
        avg = {key: sum(k * m[key] for k, m in parts) / n for key in parts[0][1]}
        avg["ratio"] = avg["mse_out"] / max(avg["mse_in"], 1e-12)
        out[link.name] = {k: round(v, 4) for k, v in avg.items()}
    return out


def region_sensitivity(G, links: Sequence[Link], *, seeds: Sequence[int], segmenter: Segmenter | None = None,
                       batch_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """How each direction of W moves each link's region and the rest of the image, to first order:
    (C_in, C_out), each (L, w_dim, w_dim), C = E[J^T diag(m) J] / |m| with J = d G(w) / d w (w broadcast to every
    W+ row, const noise) and m the link's region in G(w) (its complement for C_out), averaged over the faces of
    `seeds`. v^T C_in v is the mean squared change per region pixel of a small step along the unit vector v. Each
    face contributes one random projection of J (a vector-Jacobian product with Gaussian pixel noise inside the
    mask), whose outer product has that expectation."""
    seeds, d, n = list(seeds), G.config.w_dim, 0
    device = G.w_avg.device
    c_in, c_out = torch.zeros(2, len(links), d, d, device=device)
    for i in range(0, len(seeds), batch_size):
        w = G.map(G.z_from_seeds(seeds[i:i + batch_size], device=device)).detach().requires_grad_(True)
        x = G.synthesize(w, noise_mode="const")
        masks = region_masks(links, x.detach(), segmenter)
        for k in range(len(links)):
            for m, c in ((masks[:, k], c_in), (1 - masks[:, k], c_out)):
                probe = torch.randn_like(x) * (m / m.flatten(1).sum(1).clamp_min(1).view(-1, 1, 1)).sqrt().unsqueeze(1)
                g, = torch.autograd.grad(x, w, probe, retain_graph=True)
                c[k] += g.T @ g
        n += w.shape[0]
    return c_in / n, c_out / n


def align_axes(G, links: Sequence[Link], *, seeds: Sequence[int], segmenter: Segmenter | None = None,
               outside_weight: float = 10.0, rounds: int = 0, batch_size: int = 32) -> torch.Tensor:
    """An orthonormal basis of W (rows: (w_dim, w_dim)) in which each link's axes are the directions that change
    its region most and the rest of the image least, for `Generator.rotate_w`: a start for fine-tuning with the
    links whose link axes already move their regions, instead of the first channels of a W that was never told
    about regions (the paper's default). Each link's axes span the top eigenvectors of C_in - outside_weight * C_out
    (`region_sensitivity`, per-pixel means) among the directions the other links leave: taken in turn in the
    links' order, then `rounds` more times each link again given all the others (each such step raises the sum of
    the links' objectives, so a link taken late can win back directions an earlier one valued less). The axes no
    link owns get the remaining directions. A larger outside_weight gives links that change less outside and less
    inside (to first order: G's W is not disentangled, so no basis makes its links perfect)."""
    d = G.config.w_dim
    validate_links(links, w_dim=d, resolution=G.config.resolution)
    c_in, c_out = region_sensitivity(G, links, seeds=seeds, segmenter=segmenter, batch_size=batch_size)
    rotation = torch.zeros(d, d, device=c_in.device)
    taken = torch.zeros(d, dtype=torch.bool, device=c_in.device)       # rows of `rotation` set so far
    for k in [*range(len(links))] * (1 + rounds):
        a, b = links[k].axes
        taken[a:b] = False
        free = _complement(rotation[taken])                               # directions the other links leave
        values, vectors = torch.linalg.eigh(free.T @ (c_in[k] - outside_weight * c_out[k]) @ free)
        rotation[a:b] = (free @ vectors[:, values.argsort(descending=True)[:b - a]]).T
        taken[a:b] = True
    rotation[~taken] = _complement(rotation[taken]).T
    return rotation


def _complement(rows: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis (columns, (d, d - r)) of the directions orthogonal to the r orthonormal rows (r, d)."""
    d = rows.shape[1]
    if rows.shape[0] == 0:
        return torch.eye(d, device=rows.device)
    q, _ = torch.linalg.qr(rows.T, mode="complete")
    return q[:, rows.shape[0]:]
