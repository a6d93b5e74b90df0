"""LinkGAN region edits of the app's service (linkgan.studio; LinkGAN, docs/methods.md, "LinkGAN"): resample the
latent axes linked to chosen regions, show the regions, and the part segmenter that reads them.
"""
from __future__ import annotations

from typing import Sequence

import torch
from PIL import Image

from ..links import RESAMPLE_PSI, Link, region_masks, resample
from .session import StudioError, _check_number


class RegionEdits:
    """Region edits. Uses the Studio's G, links, segmenter and device, and Sessions."""

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
        from ..utils import to_uint8
        return Image.fromarray(to_uint8(y)[0])

    def _part_segmenter(self):
        """The part segmenter (labels of images): the generator's own for semantic links, else the shipped one."""
        if self.segmenter is None:
            from ..hub import DEFAULT_SEGMENTER, WeightsNotFoundError
            from ..segmenter import Segmenter
            try:
                self.segmenter = Segmenter.from_pretrained(DEFAULT_SEGMENTER, device=self.device).predict
            except WeightsNotFoundError as e:
                raise StudioError(f"keeping an edit inside a region needs a part segmenter: {e}") from None
        return self.segmenter
