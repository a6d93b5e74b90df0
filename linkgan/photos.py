"""User photos -> generator-ready tensors (the input side of inversion, METHODS.md §3): any file, bytes or PIL image
in any mode, EXIF orientation applied, any aspect ratio, guarded against decompression bombs, truncated and
non-image files. Every unusable upload raises `PhotoError` with a message fit to show the user.
"""
from __future__ import annotations

import io
import os
import warnings
from typing import BinaryIO, Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .data import image_to_tensor

MAX_PIXELS = 64_000_000     # about an 8000 x 8000 photo: larger is refused before decoding (decompression bombs)
MIN_SIDE = 8                # smaller images carry no face to invert
WHITE = (255, 255, 255)

PhotoSource = Union[str, "os.PathLike[str]", bytes, bytearray, BinaryIO, Image.Image]


class PhotoError(ValueError):
    """An upload that cannot be used as a photo; the message says why, for the user."""


def _open(src: PhotoSource) -> Image.Image:
    if isinstance(src, Image.Image):
        return src
    if isinstance(src, (bytes, bytearray)):
        if len(src) == 0:
            raise PhotoError("the file is empty (0 bytes)")
        src = io.BytesIO(bytes(src))
    elif isinstance(src, (str, os.PathLike)):
        try:
            if os.path.getsize(src) == 0:
                raise PhotoError(f"{os.fspath(src)} is empty (0 bytes)")
        except OSError as e:
            raise PhotoError(f"cannot read {os.fspath(src)}: {e.strerror or e}") from None
    try:
        return Image.open(src)
    except UnidentifiedImageError:
        raise PhotoError("not an image file (or an image format Pillow cannot read)") from None
    except Image.DecompressionBombError as e:
        raise PhotoError(f"image too large to open safely: {e}") from None
    except OSError as e:
        raise PhotoError(f"cannot read the image: {e}") from None


def _to_rgb(img: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Any PIL mode -> RGB. Transparency is composited over `background`; 16/32-bit and float greys are scaled."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        if img.mode.startswith("I;16"):
            a = a / 65535.0
        elif img.mode == "F" and a.min() >= 0.0 and a.max() <= 1.0:
            pass                                              # float in [0, 1]
        elif a.min() >= 0.0 and a.max() <= 255.0 and img.mode == "I":
            a = a / 255.0                                     # 8-bit data stored as int32
        elif a.min() >= 0.0 and a.max() <= 65535.0:
            a = a / 65535.0                                   # 16-bit PNGs often open as "I"
        else:
            lo, hi = float(a.min()), float(a.max())           # anything else: stretch to the full range
            a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
        grey = (np.nan_to_num(a).clip(0.0, 1.0) * 255.0).round().astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode in ("LA", "PA", "La", "RGBa"):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        canvas = Image.new("RGB", img.size, background)
        canvas.paste(img, mask=img.getchannel("A"))
        return canvas
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as e:
        raise PhotoError(f"unsupported image mode {img.mode!r}: {e}") from None


def _square(img: Image.Image, size: int, mode: str, background: tuple[int, int, int]) -> Image.Image:
    w, h = img.size
    if mode == "crop":
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        img = img.crop((left, top, left + s, top + s))
    elif mode == "pad":
        s = max(w, h)
        canvas = Image.new("RGB", (s, s), background)
        canvas.paste(img, ((s - w) // 2, (s - h) // 2))
        img = canvas
    else:
        raise ValueError(f"mode must be 'crop' or 'pad', got {mode!r}")
    return img.resize((size, size), Image.LANCZOS, reducing_gap=3.0)


def load_photo(src: PhotoSource, size: int, *, mode: str = "crop", max_pixels: int = MAX_PIXELS,
               min_side: int = MIN_SIDE, background: tuple[int, int, int] = WHITE) -> torch.Tensor:
    """A photo (path, bytes, binary file object or PIL image) -> (1, 3, size, size) float32 in [-1, 1].

    mode: "crop" takes the centred square; "pad" fits the whole photo into a square of `background` (also the
    colour transparent pixels are composited over). Images above `max_pixels` or with a side below `min_side`,
    and empty, truncated or non-image files raise PhotoError.
    """
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    with warnings.catch_warnings():
        # Pillow warns (rather than raises) between MAX_IMAGE_PIXELS and twice that: an error here
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = _open(src)
            w, h = img.size
            if w * h > max_pixels:
                raise PhotoError(f"image too large: {w} x {h} = {w * h:,} pixels (the limit is {max_pixels:,})")
            if min(w, h) < min_side:
                raise PhotoError(f"image too small: {w} x {h} pixels (each side needs at least {min_side})")
            if img.format == "JPEG":
                img.draft(img.mode, (2 * size, 2 * size))      # decode big JPEGs at a reduced scale: faster
            img.load()
        except Image.DecompressionBombWarning as e:
            raise PhotoError(f"image too large to open safely: {e}") from None
        except Image.DecompressionBombError as e:
            raise PhotoError(f"image too large to open safely: {e}") from None
        except OSError as e:                                       # "image file is truncated", broken data
            raise PhotoError(f"the image file is damaged or truncated: {e}") from None
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - malformed EXIF must not lose the photo; keep it as stored
        pass
    rgb = _square(_to_rgb(img, background), size, mode, background)
    return image_to_tensor(np.array(rgb, dtype=np.uint8)).unsqueeze(0)   # a writable copy
