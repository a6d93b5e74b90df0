"""The labeller behind InterFaceGAN's boundaries (Shen et al. 2020, Sec. 3.1 labels sampled faces with attribute
classifiers): the colour of a part, read from the pixels the part segmenter marks, named by the nearest colour of
the toy-faces palette. It shares nothing with the attribute oracle that judges edits (linkgan.oracle), so a
boundary cannot learn that oracle's mistakes; the numbers are in checkpoints/toyfaces64-linked-directions/README.md.
"""
from __future__ import annotations

import torch

# attribute -> (the segmenter's parts it is read from, the palette module attribute)
COLOUR_PARTS = {"hair_color": ("hair",), "eye_color": ("eyes",), "background": ("background",),
                "skin_tone": ("skin",)}
IRIS_CHROMA = 0.2       # max - min of RGB in [-1, 1]: an iris pixel (the white, the pupil and the lids are grey)
MIN_PIXELS = 4          # fewer pixels of the part: the attribute is not visible (NaN scores)


def palette(attribute: str) -> tuple[list[str], torch.Tensor]:
    """(class names, (C, 3) colours in [-1, 1]) of a colour attribute, in linkgan.data.ATTRIBUTES order."""
    from ..data import ATTRIBUTES
    from ..data.attributes import BACKGROUND_RGB, EYE_RGB, HAIR_RGB, SKIN_RGB

    table = {"hair_color": HAIR_RGB, "eye_color": EYE_RGB, "background": BACKGROUND_RGB, "skin_tone": SKIN_RGB}
    if attribute not in table:
        raise ValueError(f"no palette for {attribute!r}; colour attributes: {sorted(table)}")
    names = list(ATTRIBUTES[attribute])
    return names, torch.tensor([table[attribute][n] for n in names], dtype=torch.float32) / 127.5 - 1


class PartColourLabeller:
    """images (B, 3, H, W) in [-1, 1] -> {attribute: (B, C) scores}: minus the RGB distance of the part's median
    colour to each named colour (NaN rows where the part is missing). `segmenter`: a linkgan Segmenter."""

    def __init__(self, segmenter, attributes=tuple(COLOUR_PARTS)):
        unknown = [a for a in attributes if a not in COLOUR_PARTS]
        if unknown:
            raise ValueError(f"no colour labeller for {unknown}; known: {sorted(COLOUR_PARTS)}")
        self.segmenter, self.attributes = segmenter, tuple(attributes)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        from ..data import PART_LABELS

        labels = self.segmenter.predict(images)                                    # (B, H, W)
        chroma = images.amax(1) - images.amin(1)                                   # (B, H, W)
        out = {}
        for attr in self.attributes:
            names, colours = palette(attr)
            ids = torch.tensor([PART_LABELS.index(p) for p in COLOUR_PARTS[attr]], device=labels.device)
            mask = torch.isin(labels, ids)
            if attr == "eye_color":
                mask &= chroma > IRIS_CHROMA
            scores = torch.full((len(images), len(names)), float("nan"))
            for i in range(len(images)):
                if int(mask[i].sum()) >= MIN_PIXELS:
                    rgb = images[i][:, mask[i]].median(dim=1).values.cpu()        # (3,)
                    scores[i] = -(colours - rgb).norm(dim=1)
            out[attr] = scores
        return out

    def read(self, images: torch.Tensor) -> dict[str, list[str | None]]:
        """The named colour per image and attribute (None where the part is missing)."""
        out = {}
        for attr, s in self(images).items():
            names = palette(attr)[0]
            out[attr] = [None if torch.isnan(row).any() else names[int(row.argmax())] for row in s]
        return out


def value_score(scores: torch.Tensor, index: int) -> torch.Tensor:
    """(B,) margin of class `index` over the best other class (> 0: read as that class; NaN where missing)."""
    others = torch.cat([scores[:, :index], scores[:, index + 1:]], dim=1)
    return scores[:, index] - others.amax(1)
