"""The service behind the app: one object that owns the loaded models and turns user actions into images.

Everything a user has made lives in a *session*: a plain dict that the app keeps in per-user `gr.State`
(nothing is shared between users). A session holds the starting latent (a generated face, an inverted
photo or a loaded latent file) and a stack of edits; each edit stores the W+ code it produced, so undo is
a pop and every image is `render(current ws)` with the generator's constant noise: the same code always
gives the same image. Latents are (num_ws, w_dim) float32 arrays; links live in W and act on every row.

Edits of the same kind and target in a row (the same links resampled, the same text direction, the same
mapper, the sliders of one Explore method) replace each other instead of stacking, so dragging a slider tweaks one
edit.
"""
from __future__ import annotations

import copy
import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from .hub import DEFAULT_GENERATOR
from .latentfile import LATENT_FORMAT, LatentFileError, read_latent, write_latent  # noqa: F401 (LATENT_FORMAT: API)
from .links import RESAMPLE_PSI, Link, generator_links, region_masks, resample
from .networks import Generator
from .styleclip.edits import MAX_ALPHA, TEXT_EDIT_DEFAULTS
from .styles import edit_channels, offset_size, render_with_offset

MAX_SEED = 2**31 - 1
MAX_MAPPER_STRENGTH = 0.3      # mappers train at 0.1; 3x that is already far outside what they learned
DISPLAY_SIZE = 256
PHOTO_METHODS = ("encoder", "optimize", "hybrid")
PHOTO_STEPS = {"optimize": 200, "hybrid": 50}  # the app's default steps: hybrid a quarter of optimize (benchmarked)
MAX_INVERSION_STEPS = 1000     # the StyleGAN2 projector's full run
MAX_EDITS = 50                 # undo depth: a session holds one W+ code per edit (10 KB for the default generator)
# Explore: the latent directions of linkgan.directions, in the order the menu lists them. GANSpace and SeFa are
# computed on first use when the generator has none shipped (a PCA / an eigendecomposition: seconds); the other two
# need the part segmenter and minutes (python -m linkgan directions), so they are offered only when shipped.
EXPLORE_METHODS = {"ganspace": "GANSpace", "sefa": "SeFa", "interfacegan": "InterFaceGAN", "stylespace": "StyleSpace"}
EXPLORE_COMPUTED = ("ganspace", "sefa")
# Strengths are in standard deviations of the direction over sampled faces (Directions.scales). A W direction at 5
# changes 70-77 % of the default generator's pixels visibly (its names are read at 3); one StyleSpace channel at 5
# only 5 %, at 20 16 % (the baselines benchmark searches StyleSpace strengths up to 20 too).
MAX_EXPLORE_STRENGTH = {"ganspace": 5.0, "sefa": 5.0, "interfacegan": 5.0, "stylespace": 20.0}
TYPE_TARGET = "type what the face should look like, e.g. 'a face with purple hair'"


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


def _check_text(name: str, value, when_empty: str) -> str:
    """A prompt as typed, stripped; refused unless it is a string with a letter or digit in it (a prompt of zero-width
    spaces passed the emptiness check and edited the face towards nothing). when_empty: the message for no text."""
    if value is not None and not isinstance(value, str):
        raise StudioError(f"the {name} must be text, got {type(value).__name__}")
    text = (value or "").strip()
    if not text:
        raise StudioError(when_empty)
    if not any(ch.isalnum() for ch in text):
        raise StudioError(f"the {name} has no letters or digits (only invisible characters or punctuation): "
                          f"{when_empty}")
    return text


class Studio:
    """Loaded models + the user actions of the app, as plain functions of a session dict."""

    def __init__(self, G: Generator, *, segmenter=None, name: str = "custom", device: str | torch.device = "cpu",
                 clip: str | None = "toyfaces-clip", styleclip: str | Path | None = None):
        self.G = G.eval().requires_grad_(False).to(device)
        self._styleclip = {"folder": styleclip, "mappers": {}, "directions": None}   # loaded on first use
        self.clip_name, self._clip = clip, None          # the CLIP loads on the first text edit
        self._inversion = {"encoder": "auto", "lpips": "vgg", "loaded": None}   # photos: see use_encoder
        self._explore: dict[str, object] = {}            # method -> Directions (or the StudioError saying why not)
        self._explore_lock = threading.Lock()            # requests run in threads: one computes, the rest wait
        self.name, self.device = name, torch.device(device)
        self.links: dict[str, Link] = generator_links(G)
        needs_seg = any(l.semantic for l in self.links.values())
        if needs_seg and segmenter is None:
            raise StudioError("this generator has semantic links: a segmenter is required")
        self.segmenter = segmenter
        self.resolution = G.config.resolution

    @classmethod
    def load(cls, generator: str = DEFAULT_GENERATOR, *, device: str = "cpu",
             segmenter: str = "toyfaces64-segmenter", clip: str | None = "toyfaces-clip") -> "Studio":
        G = Generator.from_pretrained(generator, device=device)
        seg = None
        if any(l.semantic for l in generator_links(G).values()):
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

    def _push(self, session: dict, kind: str, key, params: dict, ws: np.ndarray, s_offset=None) -> dict:
        """s_offset: the style-space offset of the result (global text edits); None keeps the one it starts from."""
        session = copy.deepcopy(self._check_session(session))
        edits = session["edits"]
        if edits and edits[-1]["kind"] == kind and edits[-1]["key"] == key:
            edits.pop()                              # a tweak of the last edit replaces it
        if s_offset is None:
            s_offset = edits[-1].get("s_offset") if edits else session.get("base_offset")
        edits.append({"kind": kind, "key": key, "params": params, "ws": np.asarray(ws, dtype=np.float32),
                      "s_offset": None if s_offset is None else np.asarray(s_offset, dtype=np.float32)})
        while len(edits) > MAX_EDITS:        # per-user memory stays bounded: the oldest edit becomes the start
            oldest = edits.pop(0)
            session["base"], session["base_offset"] = oldest["ws"], oldest["s_offset"]
            session["folded"] = session.get("folded", 0) + 1
        return session

    def current_offset(self, session: dict) -> np.ndarray | None:
        """The style-space offset of the current image (from StyleCLIP global edits), or None."""
        session = self._check_session(session)
        return session["edits"][-1].get("s_offset") if session["edits"] else session.get("base_offset")

    def _start_state(self, session: dict, kind: str, key) -> tuple[np.ndarray, np.ndarray | None]:
        """(ws, style offset) an edit applies to: the current ones, or those before a tweaked edit of the same kind
        and key (dragging a slider replaces the edit rather than stacking on it)."""
        session = self._check_session(session)
        self.current_ws(session)                                    # "no image yet" when there is none
        edits = session["edits"]
        if edits and edits[-1]["kind"] == kind and edits[-1]["key"] == key:
            edits = edits[:-1]
        if edits:
            return np.asarray(edits[-1]["ws"], np.float32), edits[-1].get("s_offset")
        return np.asarray(session["base"], np.float32), session.get("base_offset")

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
        folded = f" then {session['folded']} edits (undo stops here)" if session.get("folded") else ""
        lines = [f"start: {json.dumps(session['source'])}{folded}"] if session["base"] is not None else []
        return lines + [f"{e['kind']}: {json.dumps(e['params'])}" for e in session["edits"]]

    # --- rendering ------------------------------------------------------------------------------
    @torch.no_grad()
    def _synthesize(self, ws: np.ndarray, s_offset: np.ndarray | None = None) -> torch.Tensor:
        """(1, 3, H, W) in [-1, 1] of one code, with the generator's constant noise; s_offset: added to its styles."""
        ws = torch.from_numpy(np.asarray(ws, np.float32))[None].to(self.device)
        offset = None if s_offset is None else torch.from_numpy(np.asarray(s_offset, np.float32))
        return render_with_offset(self.G, ws, offset)

    def render(self, ws: np.ndarray, s_offset: np.ndarray | None = None) -> Image.Image:
        from .utils import to_uint8
        return Image.fromarray(to_uint8(self._synthesize(ws, s_offset))[0])

    def code(self, session: dict, which: str = "current") -> tuple[np.ndarray, np.ndarray | None]:
        """(ws, style offset or None) that render the current image, or the starting one (which="start"): the same
        pair always gives the same image, so callers may keep renders by it."""
        session = self._check_session(session)
        if which == "current":
            return self.current_ws(session), self.current_offset(session)
        if session["base"] is None:
            raise StudioError("no image yet")
        return np.asarray(session["base"], np.float32), session.get("base_offset")

    def image(self, session: dict) -> Image.Image:
        return self.render(*self.code(session))

    def before(self, session: dict) -> Image.Image:
        return self.render(*self.code(session, "start"))

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
        if names is not None and not (isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names)):
            raise StudioError(f"regions must be a list of region names ({', '.join(self.links)}), got "
                              f"{str(names)[:80]}")
        names = list(dict.fromkeys(names or []))
        if not names:
            raise StudioError(f"choose at least one region: {', '.join(self.links) or 'this generator has none'}")
        unknown = [n for n in names if n not in self.links]
        if unknown:
            raise StudioError(f"unknown region(s) {', '.join(map(str, unknown))}; this generator's regions: "
                              f"{', '.join(self.links) or 'none'}")
        return [self.links[n] for n in names]

    def region(self, session: dict, names: Sequence[str], new_seed, t=1.0, psi=RESAMPLE_PSI) -> dict:
        """LinkGAN edit: move the chosen links' axes (in every row of W+) towards those of new_seed's w (truncated
        by psi: by default untruncated, so every mode of the region can come) by t."""
        links = self._links(names)
        t = _check_number("t", t, 0.0, 1.0)
        w_new = self.map_seed(new_seed, psi)[0]
        key = sorted(l.name for l in links) + [int(new_seed)]
        ws = self._start_state(session, "region", key)[0]
        ws = resample(torch.from_numpy(ws)[None], torch.from_numpy(w_new)[None], links, t)[0].numpy()
        params = {"regions": [l.name for l in links], "new_seed": int(new_seed), "t": t, "psi": float(psi)}
        return self._push(session, "region", key, params, ws)

    @torch.no_grad()
    def region_overlay(self, session: dict, names: Sequence[str]) -> Image.Image:
        """The current image with the chosen regions tinted (semantic ones as the segmenter sees this image)."""
        links = self._links(names)
        x = self._synthesize(self.current_ws(session), self.current_offset(session))
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
            try:
                self._clip = CLIPAdapter.load(self.clip_name, device=self.device)
            except (ValueError, RuntimeError, OSError) as e:    # WeightsNotFoundError is an OSError
                raise StudioError(f"the CLIP {self.clip_name!r} could not be loaded: {str(e).splitlines()[0]}") \
                    from None
        return self._clip

    def text_optimize(self, session: dict, target: str, steps=None, *, region: str | None = None, progress=None,
                      should_stop=None) -> dict:
        """StyleCLIP latent optimisation (W+; StyleCLIP Sec. 4, docs/methods.md) of the current code towards
        `target`, early-stopping when the loss stops improving; progress(step, steps, losses) after every step.
        region: keep the edit inside one of linkgan.styleclip.EDIT_REGIONS (its region-content term replaces the
        latent L2); None or "anywhere": the paper's loss. Settings not given: linkgan.styleclip.TEXT_EDIT_DEFAULTS
        (steps None: the setting's own)."""
        from .styleclip import EDIT_REGIONS, edit_optimize, optimize_settings

        target = _check_text("target text", target, TYPE_TARGET)
        if region is not None and not isinstance(region, str):
            raise StudioError(f"the region must be one name (anywhere or one of {', '.join(EDIT_REGIONS)}), got "
                              f"{type(region).__name__}")
        region = None if region in (None, "", "anywhere") else region
        if region is not None and region not in EDIT_REGIONS:
            raise StudioError(f"unknown region {str(region)[:40]!r}: choose anywhere or one of "
                              f"{', '.join(EDIT_REGIONS)}")
        steps = optimize_settings(region)["steps"] if steps is None else steps
        steps = _check_number("steps", steps, 1, 300, integer=True)
        try:
            emb = self.clip.text_embedding(target)
        except ValueError as e:                       # empty after tokenising, or longer than the context
            raise StudioError(str(e)) from None
        key = ["optimize", target]
        ws_src = torch.from_numpy(self._start_state(session, "text", key)[0])[None].to(self.device)
        res = edit_optimize(self.G, self.clip, ws_src, emb, region=region, steps=steps, progress=progress,
                            segmenter=self._part_segmenter() if region is not None else None,
                            should_stop=should_stop)
        params = {"method": "optimize", "target": target, **({"region": region} if region else {}),
                  "steps": res.steps, "stopped": res.stopped or "end",
                  "clip_loss": round(res.history[-1]["clip"], 4) if res.history else None}
        return self._push(session, "text", key, params, res.ws[0].cpu().numpy())

    def _part_segmenter(self):
        """The part segmenter (labels of images): the generator's own for semantic links, else the shipped one."""
        if self.segmenter is None:
            from .hub import DEFAULT_SEGMENTER, WeightsNotFoundError
            from .segmenter import Segmenter
            try:
                self.segmenter = Segmenter.from_pretrained(DEFAULT_SEGMENTER, device=self.device).predict
            except WeightsNotFoundError as e:
                raise StudioError(f"keeping an edit inside a region needs a part segmenter: {e}") from None
        return self.segmenter

    # --- StyleCLIP: shipped latent mappers and global directions (StyleCLIP Secs. 5-6, docs/methods.md) --------------
    @property
    def styleclip_dir(self) -> Path:
        """Where this generator's mappers and global directions live (linkgan.styleclip.zoo layout)."""
        from .styleclip import styleclip_folder
        folder = self._styleclip["folder"]
        return Path(folder) if folder is not None else styleclip_folder(self.name)

    def mapper_names(self) -> list[str]:
        """Names of the shipped latent mappers of this generator (folders under styleclip_dir/mappers)."""
        folder = self.styleclip_dir / "mappers"
        return sorted(p.name for p in folder.iterdir() if (p / "config.json").is_file()) if folder.is_dir() else []

    def _mapper(self, name: str):
        from .styleclip import LatentMapper
        cache = self._styleclip["mappers"]
        if name not in cache:
            m = LatentMapper.from_pretrained(self.styleclip_dir / "mappers" / name, device=self.device)
            if (m.config.num_ws, m.config.w_dim) != (self.G.num_ws, self.G.config.w_dim):
                raise StudioError(f"mapper {name!r} was trained for W+ of shape ({m.config.num_ws}, "
                                  f"{m.config.w_dim}), not this generator's")
            cache[name] = m
        return cache[name]

    def mapper_prompts(self) -> dict[str, str]:
        """{mapper name: the text it was trained for} of the shipped mappers."""
        return {n: self._mapper(n).config.prompt or n for n in self.mapper_names()}

    def text_mapper(self, session: dict, prompt: str, strength=TEXT_EDIT_DEFAULTS.mapper_strength) -> dict:
        """StyleCLIP latent mapper: ws + strength * M(ws) with the shipped mapper of `prompt` (its text or name)."""
        from .styleclip import edit_mapper
        prompts = self.mapper_prompts()
        if not prompts:
            raise StudioError(f"no latent mappers are shipped for {self.name}: train one with python "
                              f"training/train_mapper.py --generator {self.name} --prompt '...' "
                              f"--out {self.styleclip_dir / 'mappers' / 'NAME'}")
        prompt = _check_text("mapper", prompt, f"choose a mapper: {', '.join(prompts.values())}")
        name = prompt if prompt in prompts else {v: k for k, v in prompts.items()}.get(prompt)
        if name is None:
            raise StudioError(f"no mapper for {prompt[:80]!r}; the shipped ones: {', '.join(prompts.values())} "
                              f"(free text works with the global method)")
        strength = _check_number("strength", strength, 0.0, MAX_MAPPER_STRENGTH)
        key = ["mapper", name]
        ws = torch.from_numpy(self._start_state(session, "text", key)[0])[None].to(self.device)
        with torch.no_grad():
            edited = edit_mapper(self._mapper(name), ws, strength)[0].cpu().numpy()
        params = {"method": "mapper", "mapper": name, "prompt": prompts[name], "strength": strength}
        return self._push(session, "text", key, params, edited)

    def _tuned_presets(self) -> dict:
        """{name: linkgan.styleclip.GlobalPreset} of this generator's zoo, exactly as tuned; {} when none are shipped."""
        from .styleclip import PROMPTS_FILE, tuned_presets
        path = self.styleclip_dir / PROMPTS_FILE
        if not path.is_file():
            return {}
        try:
            presets = tuned_presets(self.name, path)
            for p in presets.values():
                _check_number("a tuned alpha", p.alpha, -MAX_ALPHA, MAX_ALPHA)
        except (ValueError, TypeError) as e:          # StudioError is a ValueError
            raise StudioError(f"{path}: {e}" if str(path) not in str(e) else str(e)) from None
        return presets

    def global_presets(self) -> dict[str, dict]:
        """The tuned global-direction edits of this generator's zoo (global_prompts.json, written by
        training/tune_directions.py) as arguments of text_global: {target text: {"neutral", "alpha", "beta",
        "min_channels"}}; a neutral may list alternatives (CLIP picks the one it reads in the face). beta is rounded up
        to 0.01 (the app's slider step) and min_channels is the tuned number of channels, so the automatic beta moves
        exactly the tuned channels. {} when none are shipped."""
        return {p.target: {"neutral": p.neutral, "alpha": p.alpha, "min_channels": p.min_channels,
                           "beta": min(1.0, math.ceil(p.beta * 100) / 100) if p.min_channels else round(p.beta, 2)}
                for p in self._tuned_presets().values()}

    def _directions(self):
        if self._styleclip["directions"] is None:
            from .styleclip import DIRECTIONS_FILE, GlobalDirections
            path = self.styleclip_dir / DIRECTIONS_FILE
            if not path.is_file():
                raise StudioError(f"no global directions are shipped for {self.name}: compute them with python "
                                  f"training/compute_directions.py --generator {self.name} --out {path}")
            dirs = GlobalDirections.load(path)
            if [tuple(c) for c in dirs.channels] != [tuple(c) for c in edit_channels(self.G)]:
                raise StudioError(f"the global directions at {path} were computed for another generator")
            if dirs.meta.get("clip") not in (None, self.clip.name):
                raise StudioError(f"the global directions at {path} were measured with CLIP "
                                  f"{dirs.meta.get('clip')!r}, the app uses {self.clip.name!r}")
            self._styleclip["directions"] = dirs
        return self._styleclip["directions"]

    def text_global(self, session: dict, target: str, neutral: str | None = None, alpha=None, beta=None,
                    min_channels=None) -> dict:
        """StyleCLIP global direction: s' = s + alpha * delta_s for the channels whose relevance to
        (target - neutral) is at least beta; a neutral "a | b | c" lists alternatives, and the one CLIP reads in the
        face as it is before this edit is used (reported as "neutral_read"). min_channels > 0: the automatic beta,
        lowered until at least that many channels move. Settings not given: the tuned preset of `target` when the zoo
        has one, else linkgan.styleclip.TEXT_EDIT_DEFAULTS. Kept as a style offset that later edits carry along."""
        from .styleclip import edit_global, global_settings

        target = _check_text("target text", target, f"the target text is empty: {TYPE_TARGET}")
        given = {"neutral": neutral, "alpha": alpha, "beta": beta, "min_channels": min_channels}
        try:                          # a broken presets file leaves the table's defaults (global_presets says why)
            presets = self._tuned_presets() if None in given.values() else {}
        except StudioError:
            presets = {}
        settings = global_settings(target, presets, **given)
        neutral = _check_text("neutral text", settings["neutral"], "the neutral text is empty: describe the face as "
                                                                   "it is, e.g. 'a face'")
        alpha = _check_number("alpha", settings["alpha"], -MAX_ALPHA, MAX_ALPHA)
        beta = _check_number("beta", settings["beta"], 0.0, 1.0)
        dirs = self._directions()
        min_channels = _check_number("min_channels", settings["min_channels"], 0, dirs.fs3.shape[0], integer=True)
        key = ["global", target, neutral]
        ws, start = self._start_state(session, "text", key)
        start_t = None if start is None else torch.from_numpy(np.asarray(start, np.float32)).to(self.device)
        try:
            res = edit_global(self.G, self.clip, dirs, torch.from_numpy(ws)[None].to(self.device), target,
                              neutral=neutral, alpha=alpha, beta=beta, min_channels=min_channels, s_offset=start_t)
        except ValueError as e:       # an empty alternative, empty after tokenising, too long, or target == neutral
            raise StudioError(str(e)) from None
        read = res.neutrals[0]
        e = res.edit_of(0)
        if e is None:                 # alternatives, and CLIP reads the face as the target already
            raise StudioError(f"CLIP already reads this face as {read!r}: nothing to move towards. To push "
                              f"further, use a neutral text that does not describe the target, e.g. 'a face'")
        if e.num_channels == 0:
            top = float(dirs.relevance(self.clip.text_direction(read, target)).abs().max())
            raise StudioError(f"beta {beta:g} is above the relevance of every channel (largest {top:.3f}): "
                              f"lower beta, or set a minimum number of channels (automatic beta)")
        delta = res.offset[0].cpu().numpy()
        s_offset = delta if start is None else np.asarray(start, np.float32) + delta
        params = {"method": "global", "target": target, "neutral": neutral,
                  **({"neutral_read": read} if read != neutral else {}), "alpha": alpha,
                  "beta": round(e.beta, 4), "channels": e.num_channels,
                  **({"min_channels": min_channels} if min_channels else {})}
        return self._push(session, "text", key, params, ws, s_offset=s_offset)

    # --- Explore: GANSpace, SeFa, InterFaceGAN and StyleSpace directions (linkgan.directions, docs/app.md) -----------
    def _explore_load(self, method: str):
        """The directions of `method` for this generator: the shipped zoo file, else (GANSpace, SeFa) computed now with
        the zoo's settings; a StudioError saying why there are none."""
        from .directions import compute_directions, load_zoo_directions

        try:
            dirs = load_zoo_directions(self.name, method)
        except FileNotFoundError:
            if method not in EXPLORE_COMPUTED:       # where the file goes: linkgan.directions.directions_folder
                raise StudioError(f"{EXPLORE_METHODS[method]} is not offered for this generator: its directions are "
                                  f"not shipped (python -m linkgan directions --method {method} computes them, in "
                                  f"minutes)") from None
            dirs = compute_directions(method, self.G)         # unnamed: sliders read "comp 3"
        except ValueError as e:
            raise StudioError(f"{EXPLORE_METHODS[method]}: the shipped file cannot be read ({e})") from None
        if not dirs.fits(self.G):
            raise StudioError(f"{EXPLORE_METHODS[method]}: the shipped directions were computed for another generator")
        return dirs

    def _explore_dirs(self, method):
        """Loaded (or computed) once per method; later calls, from any user, reuse them read-only."""
        if not isinstance(method, str) or method not in EXPLORE_METHODS:
            raise StudioError(f"unknown method {str(method)[:40]!r}: choose one of {', '.join(EXPLORE_METHODS)}")
        with self._explore_lock:
            if method not in self._explore:
                try:
                    self._explore[method] = self._explore_load(method)
                except StudioError as e:
                    self._explore[method] = e
        found = self._explore[method]
        if isinstance(found, StudioError):
            raise StudioError(str(found))
        return found

    def explore_methods(self) -> dict[str, str | None]:
        """{method: None when it can be explored, else why not}, in menu order. GANSpace and SeFa always can (computed
        on first use when not shipped); InterFaceGAN and StyleSpace when this generator's zoo ships them."""
        from .directions import directions_folder
        out = {}
        for method in EXPLORE_METHODS:
            if method in EXPLORE_COMPUTED and not (directions_folder(self.name) / f"{method}.safetensors").is_file():
                out[method] = None                        # computed on first use, not at start-up
                continue
            try:
                self._explore_dirs(method)
                out[method] = None
            except StudioError as e:
                out[method] = str(e)
        return out

    def explore_directions(self, method) -> list[str]:
        """The directions of a method, best first, each named by what the attribute oracle sees it change
        ('comp 3: hair colour (+ brown, − grey)'; 'comp 3' when unnamed)."""
        dirs = self._explore_dirs(method)
        return [dirs.label(k) for k in range(len(dirs))]

    def explore_strengths(self, session: dict, method) -> dict[int, float]:
        """{direction: strength} of the current image's Explore edit of `method` ({} unless it is the last edit):
        what that method's sliders show."""
        session = self._check_session(session)
        last = session["edits"][-1] if session["edits"] else None
        if last is None or last["kind"] != "explore" or last["key"] != ["explore", method]:
            return {}
        return {int(k): float(v) for k, v in last["params"]["strengths"].items()}

    def explore(self, session: dict, method, direction, strength) -> dict:
        """Move the current image `strength` standard deviations along direction `direction` of `method`. The
        Explore edit of a method holds one strength per direction: consecutive moves of that method's sliders
        replace it (the other directions keep theirs), and setting every strength back to 0 removes it. W directions
        move ws; StyleSpace channels move the style offset, which later edits carry along."""
        dirs = self._explore_dirs(method)
        k = _check_number("direction", direction, 0, len(dirs) - 1, integer=True)
        strength = _check_number("strength", strength, -MAX_EXPLORE_STRENGTH[method], MAX_EXPLORE_STRENGTH[method])
        key = ["explore", method]
        ws, offset = self._start_state(session, "explore", key)
        strengths = {**self.explore_strengths(session, method), k: strength}
        strengths = {i: strengths[i] for i in sorted(strengths) if strengths[i] != 0.0}
        if not strengths:                                 # every slider back at 0: no edit
            session = copy.deepcopy(self._check_session(session))
            if session["edits"] and session["edits"][-1]["key"] == key:
                session["edits"].pop()
            return session
        start = None if offset is None else torch.from_numpy(np.asarray(offset, np.float32))
        code, moved = dirs.move(self.G, torch.from_numpy(ws)[None], strengths, start)
        ws, offset = code[0].numpy(), None if moved is None else moved.numpy()
        params = {"method": method, "strengths": {str(i): a for i, a in strengths.items()}}
        return self._push(session, "explore", key, params, ws, s_offset=offset if dirs.space == "s" else None)

    # --- photos: inversion into the generator's latent space (docs/methods.md, "Inversion") ---------------------------
    def use_encoder(self, encoder="auto", *, lpips="vgg") -> None:
        """Choose the photo encoder: a registry name, folder or Hub repo id, an `Encoder`, None (optimisation
        only) or "auto" (the shipped DEFAULT_ENCODER for the default generator, <folder>/encoder for a generator
        folder that has one (training/recipes/toyfaces64.sh zoo), none for any other).
        lpips: the perceptual loss of optimize / hybrid ("vgg", "alex" or None for MSE only)."""
        if lpips not in (None, "vgg", "alex"):
            raise StudioError(f"lpips must be 'vgg', 'alex' or None, got {lpips!r}")
        self._inversion = {"encoder": encoder, "lpips": lpips, "loaded": None}

    def photo_encoder(self):
        """The loaded encoder (checked against this generator) or a StudioError saying why there is none."""
        from .encoder import Encoder
        from .hub import DEFAULT_ENCODER, WeightsFormatError, WeightsNotFoundError

        state = self._inversion
        if state["loaded"] is None:
            enc = state["encoder"]
            if isinstance(enc, str) and enc == "auto":
                own = Path(self.name) / "encoder"
                enc = DEFAULT_ENCODER if self.name == DEFAULT_GENERATOR else str(own) if own.is_dir() else None
            if enc is None:
                raise StudioError(f"no encoder for this generator ({self.name}): use the optimize method, or "
                                  f"train one with python training/train_encoder.py --generator {self.name}")
            if not isinstance(enc, Encoder):
                try:
                    enc = Encoder.from_pretrained(enc, device=self.device)
                except WeightsNotFoundError:
                    raise StudioError(f"the encoder {enc} is not trained yet: use the optimize method") from None
                except WeightsFormatError as e:
                    raise StudioError(f"the encoder {enc} cannot be loaded ({e}): use the optimize method") from None
            c = enc.config
            if (c.resolution, c.w_dim, c.num_ws) != (self.resolution, self.G.config.w_dim, self.G.num_ws) or \
                    not torch.allclose(enc.w_avg.to(self.device), self.G.w_avg, atol=1e-4):
                raise StudioError(f"the encoder was trained for another generator than {self.name}: "
                                  f"use the optimize method")
            state["loaded"] = enc.eval().requires_grad_(False).to(self.device)
        return state["loaded"]

    def encoder_problem(self) -> str | None:
        """None when the encoder and hybrid methods can run, else why not (the message they would raise)."""
        try:
            self.photo_encoder()
        except StudioError as e:
            return str(e)
        return None

    def _photo_lpips(self):
        """The perceptual loss of optimize / hybrid, loaded once (None: MSE only)."""
        state = self._inversion
        if isinstance(state["lpips"], str):
            from .perceptual import load_lpips
            state["lpips"] = load_lpips(state["lpips"], device=self.device)
        return state["lpips"]

    def fit_photo(self, image) -> torch.Tensor:
        """An upload (path, bytes or PIL image) -> (1, 3, R, R) in [-1, 1] at the generator's resolution."""
        from .photos import PhotoError, load_photo
        if image is None or (isinstance(image, str) and not image):
            raise StudioError("upload a photo (or take one with the webcam) first")
        try:
            return load_photo(image, self.resolution)
        except PhotoError as e:
            raise StudioError(f"cannot use this upload: {e}") from None

    def photo_image(self, image) -> Image.Image:
        """The upload as the generator sees it (square, its resolution): what inversion reconstructs."""
        from .utils import to_uint8
        return Image.fromarray(to_uint8(self.fit_photo(image))[0])

    def invert_photo(self, session: dict, image, method: str = "hybrid", steps=100, *, progress=None,
                     should_stop=None) -> dict:
        """A new session starting from the inversion of a photo: "encoder" (one pass), "optimize" (`steps` of the
        StyleGAN2 projector in W from w_avg) or "hybrid" (the encoder's W+ code, then `steps` of optimisation in
        W+: linkgan.inversion.HYBRID).
        Noise maps stay the generator's constant ones, so the code alone reproduces the image (and latent files
        and edits stay exact). progress(step, steps, loss) after every step; should_stop() ends it early."""
        from .inversion import invert

        if method not in PHOTO_METHODS:
            raise StudioError(f"method must be one of {', '.join(PHOTO_METHODS)}, got {method!r}")
        steps = 0 if method == "encoder" else _check_number("steps", steps, 1, MAX_INVERSION_STEPS, integer=True)
        encoder = self.photo_encoder() if method != "optimize" else None
        x = self.fit_photo(image)
        report = None if progress is None else (lambda step, loss, _img: progress(step, steps, loss))
        lpips = self._photo_lpips() if method != "encoder" else None        # one pass: no loss to optimise
        res = invert(self.G, x, method=method, encoder=encoder, steps=steps or None, lpips=lpips,
                     optimize_noise=False, callback=report, should_stop=should_stop)
        source = {"kind": "photo", "method": method, "space": res.space, "steps": res.steps,
                  "stopped": res.stopped or "end"}
        if res.losses:
            source["loss"] = round(res.losses[-1]["loss"], 5)
        if lpips is not None:
            source["perceptual"] = lpips.backbone_name
        return self.start(res.ws[0].cpu().numpy(), source)

    @staticmethod
    def perceptual_warning(session: dict) -> str | None:
        """For the user, when a photo session's inversion optimised LPIPS on a random backbone (no ImageNet VGG
        weights here, e.g. offline: linkgan.perceptual), which fits faces less faithfully; None otherwise."""
        source = session.get("source") if isinstance(session, dict) else None
        backbone = source.get("perceptual", "") if isinstance(source, dict) else ""
        if "random" not in backbone:
            return None
        from .perceptual import TORCH_HUB_FILES
        net = "alex" if "alex" in backbone else "vgg"
        return (f"The perceptual loss ran on a RANDOM backbone ({backbone}): no ImageNet weights were found "
                f"(offline?), so the inversion matches the photo less faithfully. The server needs torchvision's "
                f"{TORCH_HUB_FILES[net]} in its torch hub cache.")

    # --- latent files ---------------------------------------------------------------------------
    def save_latent(self, session: dict) -> bytes:
        """npz (linkgan.latentfile): the current ws (exact), the starting code, the edit history with every
        parameter, and the style offset of StyleCLIP global edits (styles(ws) + s_offset) when there is one."""
        session = self._check_session(session)
        meta = {"generator": self.name, "noise_mode": "const", "source": session["source"],
                **({"folded_edits": session["folded"]} if session.get("folded") else {}),
                "edits": [{"kind": e["kind"], "params": e["params"]} for e in session["edits"]]}
        return write_latent(self.current_ws(session), session["base"], meta, self.current_offset(session))

    def load_latent(self, data: bytes) -> dict:
        """A session from save_latent's bytes (the image is reproduced exactly); a file that is damaged, hostile or
        saved for another generator raises StudioError before anything large is unpacked."""
        try:
            f = read_latent(data, ws_shape=(self.G.num_ws, self.G.config.w_dim), generator=self.name,
                            offset_size=offset_size(self.G))
        except LatentFileError as e:
            raise StudioError(f"not a latent file saved by LinkGAN Studio for this generator: {e}") from None
        meta = f["meta"]
        session = self.start(f["ws"], {"kind": "file", "generator": meta.get("generator"),
                                       "source": meta.get("source"), "edits": meta.get("edits", [])})
        if f["s_offset"] is not None:
            session["base_offset"] = f["s_offset"]
        return session
