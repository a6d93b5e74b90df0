"""Explore edits of the app's service (linkgan.studio; docs/app.md): the generator's own latent directions of
GANSpace, SeFa, InterFaceGAN and StyleSpace (linkgan.directions), one slider per direction.
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from .session import StudioError, _check_number

# The methods, in the order the menu lists them. GANSpace and SeFa are computed on first use when the generator has
# none shipped (a PCA / an eigendecomposition: seconds); the other two need the part segmenter and minutes
# (python -m linkgan directions), so they are offered only when shipped.
EXPLORE_METHODS = {"ganspace": "GANSpace", "sefa": "SeFa", "interfacegan": "InterFaceGAN", "stylespace": "StyleSpace"}
EXPLORE_COMPUTED = ("ganspace", "sefa")
# Strengths are in standard deviations of the direction over sampled faces (Directions.scales). A W direction at 5
# changes 70-77 % of the default generator's pixels visibly (its names are read at 3); one StyleSpace channel at 5
# only 5 %, at 20 16 % (the baselines benchmark searches StyleSpace strengths up to 20 too).
MAX_EXPLORE_STRENGTH = {"ganspace": 5.0, "sefa": 5.0, "interfacegan": 5.0, "stylespace": 20.0}


class Explore:
    """Explore edits. Uses the Studio's G and name, its _explore cache and lock, and Sessions."""

    def _explore_load(self, method: str):
        """The directions of `method` for this generator: the shipped zoo file, else (GANSpace, SeFa) computed now with
        the zoo's settings; a StudioError saying why there are none."""
        from ..directions import compute_directions, load_zoo_directions

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
        from ..directions import directions_folder
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
