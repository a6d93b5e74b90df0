"""The app's 3D tab service: heads of a tri-plane generator (linkgan.networks3d) seen from any camera of its range,
region edits that hold in every view, and turntables (linkgan.render3d).

It is the 2D Studio's sessions and region edits on another generator: a session holds W+ codes and an edit stack
(undo, history and latent files work as in 2D); the camera is not part of a session but of each request, so turning
the head is not an edit. 3D codes have no style offsets (no StyleCLIP global edits on the 3D generator).
"""
from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from .. import cameras as cams
from ..links import generator_links
from ..render3d import GIF_FRAME_MS, TURNTABLE_FRAMES, save_gif, turntable
from .region import RegionEdits
from .session import Sessions, StudioError, _check_number

DEFAULT_GENERATOR3D = "heads3d64-linked"   # the registered name the recipe exports; the app's 3D tab loads it when
                                           # it is there (none ships yet: training/recipes/heads3d.sh)


class Studio3D(Sessions, RegionEdits):
    """Loaded 3D generator + the 3D tab's actions, as plain functions of a session dict (see Studio)."""

    def __init__(self, G, *, name: str = "custom", device: str | torch.device = "cpu"):
        self.G = G.eval().requires_grad_(False).to(device)
        self.name, self.device = name, torch.device(device)
        self.links = generator_links(G)
        self.segmenter = None              # a region edit moves axes only: no segmenter is read
        self.resolution = G.config.resolution
        self.camera_range: cams.CameraRange = G.config.camera_range

    @classmethod
    def load(cls, generator: str = DEFAULT_GENERATOR3D, *, device: str = "cpu") -> "Studio3D":
        from ..networks3d import TriplaneGenerator
        return cls(TriplaneGenerator.from_pretrained(generator, device=device), name=generator, device=device)

    def _offset_size(self) -> int:
        return 0

    def check_view(self, yaw, pitch) -> tuple[float, float]:
        """(yaw, pitch) in degrees, refused outside the model's camera range (views it was never trained on)."""
        r = self.camera_range
        return (_check_number("yaw", yaw, -r.yaw_deg, r.yaw_deg),
                _check_number("pitch", pitch, -r.pitch_deg, r.pitch_deg))

    @torch.no_grad()
    def _synthesize(self, ws: np.ndarray, s_offset: np.ndarray | None = None, view=(0.0, 0.0)) -> torch.Tensor:
        """(1, 3, H, W) in [-1, 1]: one code seen from the camera at view = (yaw, pitch) degrees (frontal by default),
        with the ray samples placed deterministically: the same code and view always give the same image."""
        if s_offset is not None:
            raise StudioError("3D codes have no style offsets")
        yaw, pitch = self.check_view(*view)
        c = cams.cameras(yaw, pitch, camera_range=self.camera_range).to(self.device)
        ws_t = torch.from_numpy(np.asarray(ws, np.float32))[None].to(self.device)
        return self.G.synthesize(ws_t, c, noise_mode="const")

    def view(self, session: dict, yaw=0.0, pitch=0.0) -> Image.Image:
        """The current head seen from (yaw, pitch) degrees."""
        from ..utils import to_uint8
        return Image.fromarray(to_uint8(self._synthesize(self.current_ws(session), view=(yaw, pitch)))[0])

    def turntable_codes(self, session: dict) -> list[np.ndarray]:
        """The codes a turntable shows, left to right: the starting head and the current one once there are edits
        (so an edit shows from every angle), else the head alone."""
        session = self._check_session(session)
        current = self.current_ws(session)
        return [self.code(session, "start")[0], current] if session["edits"] else [current]

    @torch.no_grad()
    def turntable_gif(self, session: dict, *, pitch=0.0, frames: int = TURNTABLE_FRAMES,
                      frame_ms: int = GIF_FRAME_MS) -> bytes:
        """A looping GIF of the camera sweeping the yaw range at `pitch`, of `turntable_codes` side by side."""
        pitch = self.check_view(0.0, pitch)[1]
        ws = torch.from_numpy(np.stack(self.turntable_codes(session))).to(self.device)
        out = io.BytesIO()
        save_gif(turntable(self.G, ws, frames=frames, pitch_deg=pitch).cpu(), out, frame_ms=frame_ms)
        return out.getvalue()
