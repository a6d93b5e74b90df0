"""The service behind the app: one object that owns the loaded models and turns user actions into images.

Everything a user has made lives in a *session*: a plain dict that the app keeps in per-user `gr.State`
(nothing is shared between users). A session holds the starting latent (a generated face, an inverted
photo or a loaded latent file) and a stack of edits; each edit stores the W+ code it produced, so undo is
a pop and every image is `render(current ws)` with the generator's constant noise: the same code always
gives the same image. Latents are (num_ws, w_dim) float32 arrays; links live in W and act on every row.

Edits of the same kind and target in a row (the same links resampled, the same text direction, the same
mapper) replace each other instead of stacking, so dragging a slider tweaks one edit.
"""
from __future__ import annotations

import copy
import io
import json
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from .hub import DEFAULT_GENERATOR
from .links import Link, generator_links, region_masks
from .networks import Generator

LATENT_FORMAT = "linkgan-latent/1"
MAX_SEED = 2**31 - 1
DISPLAY_SIZE = 256


class StudioError(ValueError):
    """A user mistake (bad value, nothing to undo, unknown link): the message is shown as it is."""


@dataclass
class Limits:
    max_links: int = 8


def _check_number(name: str, value, lo: float, hi: float, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise StudioError(f"{name} must be a number, got {value!r}")
    if integer and float(value) != int(value):
        raise StudioError(f"{name} must be a whole number, got {value!r}")
    if not lo <= value <= hi:
        raise StudioError(f"{name} must be between {lo:g} and {hi:g}, got {value:g}")
    return int(value) if integer else float(value)


class Studio:
    """Loaded models + the user actions of the app, as plain functions of a session dict."""

    def __init__(self, G: Generator, *, segmenter=None, name: str = "custom", device: str | torch.device = "cpu",
                 clip: str | None = "toyfaces-clip"):
        self.G = G.eval().requires_grad_(False).to(device)
        self.clip_name, self._clip = clip, None          # the CLIP loads on the first text edit
        self.name, self.device = name, torch.device(device)
        self.links: dict[str, Link] = generator_links(G)
        needs_seg = any(l.label is not None for l in self.links.values())
        if needs_seg and segmenter is None:
            raise StudioError("this generator has semantic links: a segmenter is required")
        self.segmenter = segmenter
        self.resolution = G.config.resolution

    @classmethod
    def load(cls, generator: str = DEFAULT_GENERATOR, *, device: str = "cpu",
             segmenter: str = "toyfaces64-segmenter", clip: str | None = "toyfaces-clip") -> "Studio":
        G = Generator.from_pretrained(generator, device=device)
        seg = None
        if any(l.label is not None for l in generator_links(G).values()):
            from .segmenter import Segmenter
            seg = Segmenter.from_pretrained(segmenter, device=device).predict
        return cls(G, segmenter=seg, name=generator, device=device, clip=clip)

    # --- sessions -------------------------------------------------------------------------------
    @staticmethod
    def new_session() -> dict:
        return {"base": None, "source": None, "edits": []}

    def _check_session(self, session) -> dict:
        if not isinstance(session, dict) or "edits" not in session:
            return self.new_session()
        return session

    def current_ws(self, session: dict) -> np.ndarray:
        session = self._check_session(session)
        if session["base"] is None:
            raise StudioError("no image yet: generate a face, upload a photo or load a latent file first")
        return np.asarray(session["edits"][-1]["ws"] if session["edits"] else session["base"], dtype=np.float32)

    def _push(self, session: dict, kind: str, key, params: dict, ws: np.ndarray) -> dict:
        session = copy.deepcopy(self._check_session(session))
        edits = session["edits"]
        if edits and edits[-1]["kind"] == kind and edits[-1]["key"] == key:
            edits.pop()                              # a tweak of the last edit replaces it
        edits.append({"kind": kind, "key": key, "params": params, "ws": np.asarray(ws, dtype=np.float32)})
        return session

    def _start_ws(self, session: dict, kind: str, key) -> np.ndarray:
        """The code an edit applies to: the current one, or the one before a tweaked edit of the same kind."""
        session = self._check_session(session)
        edits = session["edits"]
        if edits and edits[-1]["kind"] == kind and edits[-1]["key"] == key:
            return np.asarray(edits[-2]["ws"] if len(edits) > 1 else session["base"], dtype=np.float32)
        return self.current_ws(session)

    def start(self, ws: np.ndarray, source: dict) -> dict:
        ws = np.asarray(ws, dtype=np.float32)
        if ws.shape != (self.G.num_ws, self.G.config.w_dim):
            raise StudioError(f"latent must have shape ({self.G.num_ws}, {self.G.config.w_dim}), got {ws.shape}")
        return {"base": ws, "source": source, "edits": []}

    def undo(self, session: dict) -> dict:
        session = copy.deepcopy(self._check_session(session))
        if not session["edits"]:
            raise StudioError("nothing to undo")
        session["edits"].pop()
        return session

    def reset(self, session: dict) -> dict:
        session = copy.deepcopy(self._check_session(session))
        if session["base"] is None:
            raise StudioError("nothing to reset: no image yet")
        session["edits"] = []
        return session

    def history(self, session: dict) -> list[str]:
        session = self._check_session(session)
        lines = [f"start: {json.dumps(session['source'])}"] if session["base"] is not None else []
        return lines + [f"{e['kind']}: {json.dumps(e['params'])}" for e in session["edits"]]

    # --- rendering ------------------------------------------------------------------------------
    @torch.no_grad()
    def _synthesize(self, ws: np.ndarray) -> torch.Tensor:
        """(1, 3, H, W) in [-1, 1] of one code, with the generator's constant noise."""
        return self.G.synthesize(torch.from_numpy(np.asarray(ws, np.float32))[None].to(self.device), noise_mode="const")

    def render(self, ws: np.ndarray) -> Image.Image:
        from .utils import to_uint8
        return Image.fromarray(to_uint8(self._synthesize(ws))[0])

    def image(self, session: dict) -> Image.Image:
        return self.render(self.current_ws(session))

    def before(self, session: dict) -> Image.Image:
        session = self._check_session(session)
        if session["base"] is None:
            raise StudioError("no image yet")
        return self.render(session["base"])

    @staticmethod
    def display(img: Image.Image, size: int = DISPLAY_SIZE) -> Image.Image:
        return img.resize((size, size), Image.Resampling.NEAREST) if img.width < size else img

    # --- actions --------------------------------------------------------------------------------
    def map_seed(self, seed, psi) -> np.ndarray:
        seed = _check_number("seed", seed, 0, MAX_SEED, integer=True)
        psi = _check_number("truncation psi", psi, 0.0, 1.0)
        with torch.no_grad():
            w = self.G.map(self.G.z_from_seeds([seed], device=self.device), psi=psi)
        return self.G.broadcast(w)[0].cpu().numpy()

    def generate(self, seed, psi=0.7) -> dict:
        ws = self.map_seed(seed, psi)
        return self.start(ws, {"kind": "seed", "seed": int(seed), "psi": float(psi)})

    def link_names(self) -> list[str]:
        return list(self.links)

    def _links(self, names: Sequence[str]) -> list[Link]:
        if isinstance(names, str):
            names = [names]
        names = list(dict.fromkeys(names or []))
        if not names:
            raise StudioError(f"choose at least one region: {', '.join(self.links) or 'this generator has none'}")
        unknown = [n for n in names if n not in self.links]
        if unknown:
            raise StudioError(f"unknown region(s) {', '.join(map(str, unknown))}; this generator's regions: "
                              f"{', '.join(self.links) or 'none'}")
        return [self.links[n] for n in names]

    def region(self, session: dict, names: Sequence[str], new_seed, t=1.0, psi=0.7) -> dict:
        """LinkGAN edit: move the chosen links' axes (in every row of W+) towards those of new_seed's w by t."""
        links = self._links(names)
        t = _check_number("t", t, 0.0, 1.0)
        w_new = self.map_seed(new_seed, psi)[0]
        key = sorted(l.name for l in links) + [int(new_seed)]
        ws = self._start_ws(session, "region", key).copy()
        for l in links:
            a, b = l.axes
            ws[:, a:b] = ws[:, a:b] + t * (w_new[a:b] - ws[:, a:b])
        params = {"regions": [l.name for l in links], "new_seed": int(new_seed), "t": t, "psi": float(psi)}
        return self._push(session, "region", key, params, ws)

    @torch.no_grad()
    def region_overlay(self, session: dict, names: Sequence[str]) -> Image.Image:
        """The current image with the chosen regions tinted (semantic ones as the segmenter sees this image)."""
        links = self._links(names)
        x = self._synthesize(self.current_ws(session))
        m = region_masks(links, x, self.segmenter).amax(1, keepdim=True)          # (1, 1, H, W)
        tint = torch.tensor([1.0, 0.85, -0.6], device=x.device).view(1, 3, 1, 1)
        y = torch.where(m > 0, 0.55 * x + 0.45 * tint, 0.6 * x - 0.4)
        from .utils import to_uint8
        return Image.fromarray(to_uint8(y)[0])

    @property
    def clip(self):
        if self._clip is None:
            if not self.clip_name:
                raise StudioError("text edits need a CLIP: start the app with --clip NAME")
            from .clip import CLIPAdapter
            self._clip = CLIPAdapter.load(self.clip_name, device=self.device)
        return self._clip

    def text_optimize(self, session: dict, target: str, steps=40, *, progress=None, should_stop=None) -> dict:
        """StyleCLIP latent optimisation (W+, METHODS §2.1) of the current code towards `target`, early-stopping
        when the loss stops improving; progress(step, steps, losses) after every step."""
        from .styleclip import optimize_latent

        target = (target or "").strip() if isinstance(target, str) else target
        if not isinstance(target, str) or not target:
            raise StudioError("type what the face should look like, e.g. 'a face with purple hair'")
        steps = _check_number("steps", steps, 1, 300, integer=True)
        try:
            emb = self.clip.text_embedding(target)
        except ValueError as e:                       # empty after tokenising, or longer than the context
            raise StudioError(str(e)) from None
        key = ["optimize", target]
        ws_src = torch.from_numpy(self._start_ws(session, "text", key))[None].to(self.device)
        res = optimize_latent(self.G, self.clip, ws_src, emb, steps=steps, patience=max(10, steps // 4),
                              progress=progress, should_stop=should_stop)
        params = {"method": "optimize", "target": target, "steps": res.steps, "stopped": res.stopped or "end",
                  "clip_loss": round(res.history[-1]["clip"], 4) if res.history else None}
        return self._push(session, "text", key, params, res.ws[0].cpu().numpy())

    # --- latent files ---------------------------------------------------------------------------
    def save_latent(self, session: dict) -> bytes:
        """npz: the current ws (exact), the starting code, the edit history with every parameter."""
        session = self._check_session(session)
        ws = self.current_ws(session)
        meta = {"format": LATENT_FORMAT, "generator": self.name, "noise_mode": "const", "source": session["source"],
                "edits": [{"kind": e["kind"], "params": e["params"]} for e in session["edits"]]}
        buf = io.BytesIO()
        np.savez(buf, ws=ws, base=np.asarray(session["base"], np.float32), meta=np.array(json.dumps(meta)))
        return buf.getvalue()

    def load_latent(self, data: bytes) -> dict:
        """A session from save_latent's bytes: the image is reproduced exactly."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as f:
                ws, meta = np.asarray(f["ws"], np.float32), json.loads(str(f["meta"]))
        except Exception as e:         # noqa: BLE001 - any damage to the file is the user's error to see
            raise StudioError(f"not a latent file saved by LinkGAN Studio ({type(e).__name__}: {e})") from None
        if not isinstance(meta, dict) or meta.get("format") != LATENT_FORMAT:
            raise StudioError(f"not a latent file saved by LinkGAN Studio (format {meta.get('format')!r})")
        if not np.isfinite(ws).all():
            raise StudioError("the latent file holds non-finite values")
        return self.start(ws, {"kind": "file", "generator": meta.get("generator"), "edits": meta.get("edits", [])})
