"""StyleCLIP text edits of the app's service (linkgan.studio; StyleCLIP Secs. 4-6, docs/methods.md): latent
optimisation, the shipped latent mappers and global directions, each run by linkgan.styleclip.edits with its one
table of defaults (TEXT_EDIT_DEFAULTS), checked and kept as an edit of a session.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..styleclip import (DIRECTIONS_FILE, EDIT_REGIONS, MAX_ALPHA, PROMPTS_FILE, TEXT_EDIT_DEFAULTS, GlobalDirections,
                         LatentMapper, edit_global, edit_mapper, edit_optimize, global_settings, optimize_settings,
                         styleclip_folder, tuned_presets)
from ..styles import edit_channels
from .session import StudioError, _check_number, _check_text

MAX_MAPPER_STRENGTH = 0.3      # mappers train at 0.1; 3x that is already far outside what they learned
TYPE_TARGET = "type what the face should look like, e.g. 'a face with purple hair'"


class TextEdits:
    """Text edits. Uses the Studio's G, name, device, clip_name and _styleclip cache, Sessions and RegionEdits."""

    @property
    def clip(self):
        if self._clip is None:
            if not self.clip_name:
                raise StudioError("text edits need a CLIP: start the app with --clip NAME")
            from ..clip import CLIPAdapter
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

    # --- StyleCLIP: shipped latent mappers and global directions (StyleCLIP Secs. 5-6, docs/methods.md) --------------
    @property
    def styleclip_dir(self) -> Path:
        """Where this generator's mappers and global directions live (linkgan.styleclip.zoo layout)."""
        folder = self._styleclip["folder"]
        return Path(folder) if folder is not None else styleclip_folder(self.name)

    def mapper_names(self) -> list[str]:
        """Names of the shipped latent mappers of this generator (folders under styleclip_dir/mappers)."""
        folder = self.styleclip_dir / "mappers"
        return sorted(p.name for p in folder.iterdir() if (p / "config.json").is_file()) if folder.is_dir() else []

    def _mapper(self, name: str):
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
        """{name: GlobalPreset} of this generator's zoo, exactly as tuned; {} when none are shipped."""
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
