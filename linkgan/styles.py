"""Style space S of a generator as edits use it (StyleSpace, Wu et al. 2021, Sec. 3; StyleCLIP Sec. 6): the style
channels an edit may move (every modulated conv but ToRGB), one flat layout of them, and a style offset added to
the styles of a W+ code. Global text edits, StyleSpace directions and the latent file all share this layout.
"""
from __future__ import annotations

import torch


def edit_channels(G) -> list[tuple[str, int]]:
    """(layer name, channels) of every style an edit may touch: all modulated convs except ToRGB, synthesis order."""
    return [(name, conv.in_ch) for name, conv, _ in G.synthesis.style_layers() if not name.endswith("torgb")]


def offset_size(G) -> int:
    """N: the length of a flat style offset of G (the sum of edit_channels)."""
    return sum(c for _, c in edit_channels(G))


def flatten_styles(G, per_layer: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-layer styles ((C,) or (B, C)) of the edit channels -> one flat tensor ((N,) or (B, N)), synthesis order."""
    return torch.cat([per_layer[name] for name, _ in edit_channels(G)], dim=-1)


def add_style_offset(G, styles: dict[str, torch.Tensor], flat: torch.Tensor) -> dict[str, torch.Tensor]:
    """styles (per layer (B, C)) + a flat offset over the edit channels (the layout of flatten_styles): (N,) for
    every image alike, or (B, N) one per image."""
    out, off = dict(styles), 0
    for name, c in edit_channels(G):
        out[name] = styles[name] + flat[..., off:off + c].to(styles[name])
        off += c
    return out


def render_with_offset(G, ws: torch.Tensor, offset: torch.Tensor | None = None, *,
                       noise_mode: str = "const") -> torch.Tensor:
    """Images (B, 3, H, W) of W+ codes ws (B, num_ws, w_dim) whose styles carry a flat offset ((N,) or (B, N));
    offset None: G.synthesize(ws) itself."""
    if offset is None:
        return G.synthesize(ws, noise_mode=noise_mode)
    return G.synthesize_styles(add_style_offset(G, G.ws_to_styles(ws), offset), noise_mode=noise_mode)
