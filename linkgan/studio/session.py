"""Sessions and rendering, the part of the app's service that every kind of edit shares (linkgan.studio).

A session is a plain dict that the app keeps in per-user `gr.State` (nothing is shared between users): the starting
latent (a generated face, an inverted photo or a loaded latent file), where it came from, and a stack of edits. Each
edit stores the W+ code it produced (and the style offset of global text edits), so undo is a pop and every image is
`render(current ws, current offset)` with the generator's constant noise: the same code always gives the same image.
Latents are (num_ws, w_dim) float32 arrays. Edits of the same kind and key in a row replace each other instead of
stacking, so dragging a slider tweaks one edit.
"""
from __future__ import annotations

import copy
import json

import numpy as np
import torch
from PIL import Image

from ..latentfile import LatentFileError, read_latent, write_latent
from ..styles import offset_size, render_with_offset

MAX_SEED = 2**31 - 1
DISPLAY_SIZE = 256
MAX_EDITS = 50                 # undo depth: a session holds one W+ code per edit (10 KB for the default generator)


class StudioError(ValueError):
    """A user mistake (bad value, nothing to undo, unknown link): the message is shown as it is."""


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


class Sessions:
    """Sessions, rendering, generated faces and latent files. Uses the Studio's G, device and name."""

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

    def _offset_size(self) -> int:
        """The length of the style offset a latent file of this generator may hold (StyleCLIP global edits)."""
        return offset_size(self.G)

    # --- rendering ------------------------------------------------------------------------------
    @torch.no_grad()
    def _synthesize(self, ws: np.ndarray, s_offset: np.ndarray | None = None) -> torch.Tensor:
        """(1, 3, H, W) in [-1, 1] of one code, with the generator's constant noise; s_offset: added to its styles."""
        ws = torch.from_numpy(np.asarray(ws, np.float32))[None].to(self.device)
        offset = None if s_offset is None else torch.from_numpy(np.asarray(s_offset, np.float32))
        return render_with_offset(self.G, ws, offset)

    def render(self, ws: np.ndarray, s_offset: np.ndarray | None = None) -> Image.Image:
        from ..utils import to_uint8
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

    # --- generated faces ------------------------------------------------------------------------
    def map_seed(self, seed, psi) -> np.ndarray:
        seed = _check_number("seed", seed, 0, MAX_SEED, integer=True)
        psi = _check_number("truncation psi", psi, 0.0, 1.0)
        with torch.no_grad():
            w = self.G.map(self.G.z_from_seeds([seed], device=self.device), psi=psi)
        return self.G.broadcast(w)[0].cpu().numpy()

    def generate(self, seed, psi=0.7) -> dict:
        ws = self.map_seed(seed, psi)
        return self.start(ws, {"kind": "seed", "seed": int(seed), "psi": float(psi)})

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
                            offset_size=self._offset_size())
        except LatentFileError as e:
            raise StudioError(f"not a latent file saved by LinkGAN Studio for this generator: {e}") from None
        meta = f["meta"]
        session = self.start(f["ws"], {"kind": "file", "generator": meta.get("generator"),
                                       "source": meta.get("source"), "edits": meta.get("edits", [])})
        if f["s_offset"] is not None:
            session["base_offset"] = f["s_offset"]
        return session
