"""Photos in the app's service (linkgan.studio; inversion, docs/methods.md, "Inversion"): fit an upload to the
generator, invert it with the encoder, the projector or both, and start a session from its code.
"""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from ..hub import DEFAULT_GENERATOR
from .session import StudioError, _check_number

PHOTO_METHODS = ("encoder", "optimize", "hybrid")
PHOTO_STEPS = {"optimize": 200, "hybrid": 50}  # the app's default steps: hybrid a quarter of optimize (benchmarked)
MAX_INVERSION_STEPS = 1000     # the StyleGAN2 projector's full run


class Photos:
    """Photo inversion. Uses the Studio's G, name, device, resolution and _inversion state, and Sessions."""

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
        from ..encoder import Encoder
        from ..hub import DEFAULT_ENCODER, WeightsFormatError, WeightsNotFoundError

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
            from ..perceptual import load_lpips
            state["lpips"] = load_lpips(state["lpips"], device=self.device)
        return state["lpips"]

    def fit_photo(self, image) -> torch.Tensor:
        """An upload (path, bytes or PIL image) -> (1, 3, R, R) in [-1, 1] at the generator's resolution."""
        from ..photos import PhotoError, load_photo
        if image is None or (isinstance(image, str) and not image):
            raise StudioError("upload a photo (or take one with the webcam) first")
        try:
            return load_photo(image, self.resolution)
        except PhotoError as e:
            raise StudioError(f"cannot use this upload: {e}") from None

    def photo_image(self, image) -> Image.Image:
        """The upload as the generator sees it (square, its resolution): what inversion reconstructs."""
        from ..utils import to_uint8
        return Image.fromarray(to_uint8(self.fit_photo(image))[0])

    def invert_photo(self, session: dict, image, method: str = "hybrid", steps=100, *, progress=None,
                     should_stop=None) -> dict:
        """A new session starting from the inversion of a photo: "encoder" (one pass), "optimize" (`steps` of the
        StyleGAN2 projector in W from w_avg) or "hybrid" (the encoder's W+ code, then `steps` of optimisation in
        W+: linkgan.inversion.HYBRID).
        Noise maps stay the generator's constant ones, so the code alone reproduces the image (and latent files
        and edits stay exact). progress(step, steps, loss) after every step; should_stop() ends it early."""
        from ..inversion import invert

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
        from ..perceptual import TORCH_HUB_FILES
        net = "alex" if "alex" in backbone else "vgg"
        return (f"The perceptual loss ran on a RANDOM backbone ({backbone}): no ImageNet weights were found "
                f"(offline?), so the inversion matches the photo less faithfully. The server needs torchvision's "
                f"{TORCH_HUB_FILES[net]} in its torch hub cache.")
