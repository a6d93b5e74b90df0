"""User photos -> generator-ready tensors (the input side of inversion, docs/methods.md): any file, bytes or PIL image
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
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from .data import image_to_tensor

MAX_PIXELS = 64_000_000     # about an 8000 x 8000 photo: larger is refused before decoding (decompression bombs)
# What a decoded upload may take in Pillow's memory (width x height x bytes per pixel of its mode, checked from the
# header): 100 MB is a 25 Mpx RGB PNG. JPEGs are decoded at a reduced scale (draft) and count at that scale; a
# 7999 x 7999 16-bit PNG (124 KB as a file) took 1.7 GB and 12 s to decode and convert before this check.
MAX_DECODE_BYTES = 100_000_000
MIN_SIDE = 8                # smaller images carry no face to invert
WHITE = (255, 255, 255)
# Raster formats a photo comes in; Pillow's other openers (EPS through Ghostscript, PSD, FITS, ...) are never tried
FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF", "PPM", "TGA", "AVIF")
_EXIF_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,    # EXIF orientation ->
                   4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,       # the transpose that
                   6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,           # displays the image
                   8: Image.Transpose.ROTATE_90}                                           # (as ImageOps)

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
        name = os.path.basename(os.fspath(src))      # not the folder: in an app it is the server's upload folder
        try:
            if os.path.getsize(src) == 0:
                raise PhotoError(f"{name} is empty (0 bytes)")
        except OSError as e:
            raise PhotoError(f"cannot read {name}: {e.strerror or e}") from None
    Image.init()                                     # registers the plugins, once
    try:
        return Image.open(src, formats=[f for f in FORMATS if f in Image.OPEN])
    except UnidentifiedImageError:
        raise PhotoError("not an image file (or an image format Pillow cannot read)") from None
    except Image.DecompressionBombError as e:
        raise PhotoError(f"image too large to open safely: {e}") from None
    except ValueError as e:       # Pillow's limit on what a PNG text or colour-profile chunk may unpack to
        if "too large" in str(e).lower():
            raise PhotoError(f"cannot read the image: its metadata (a text or colour-profile chunk) unpacks to more "
                             f"than {PngImagePlugin.MAX_TEXT_CHUNK // 2**20} MB; save it without metadata") from None
        raise PhotoError(f"cannot read the image: {e}") from None
    except OSError as e:
        raise PhotoError(f"cannot read the image: {e}") from None


def _orientation(img: Image.Image) -> int | None:
    try:
        return img.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - malformed EXIF must not lose the photo; keep it as stored
        return None


def _decoded_bytes(img: Image.Image) -> int:
    """What Pillow's memory holds for the decoded image: 1 byte a pixel for 1/L/P, 2 for 16-bit greys, else 4
    (multi-band modes are stored 4 bytes a pixel)."""
    per_pixel = 1 if img.mode in ("1", "L", "P") else 2 if img.mode.startswith("I;16") else 4
    return img.width * img.height * per_pixel


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
               max_decode_bytes: int = MAX_DECODE_BYTES, min_side: int = MIN_SIDE,
               background: tuple[int, int, int] = WHITE) -> torch.Tensor:
    """A photo (path, bytes, binary file object or PIL image) -> (1, 3, size, size) float32 in [-1, 1].

    mode: "crop" takes the centred square; "pad" fits the whole photo into a square of `background` (also the
    colour transparent pixels are composited over). Images above `max_pixels`, whose decoded pixels would take more
    than `max_decode_bytes` (both read from the header: nothing is decoded), with a side below `min_side`, and empty,
    truncated or non-image files raise PhotoError.
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
            if img.format in ("JPEG", "MPO"):
                img.draft(img.mode, (2 * size, 2 * size))      # decode at a reduced scale (1/2 .. 1/8): cheap
            if _decoded_bytes(img) > max_decode_bytes:
                raise PhotoError(f"image too large to decode here: {w} x {h} pixels of mode {img.mode} take "
                                 f"{_decoded_bytes(img) / 1e6:,.0f} MB (the limit is {max_decode_bytes / 1e6:,.0f} "
                                 f"MB); save it smaller, or as a JPEG")
            img.load()
            orientation = _orientation(img)            # after load: PNG reads its EXIF chunk by loading the image
        except PhotoError:
            raise
        except Image.DecompressionBombWarning as e:
            raise PhotoError(f"image too large to open safely: {e}") from None
        except Image.DecompressionBombError as e:
            raise PhotoError(f"image too large to open safely: {e}") from None
        except OSError as e:                                       # "image file is truncated", broken data
            raise PhotoError(f"the image file is damaged or truncated: {e}") from None
        except Exception as e:  # noqa: BLE001 - a decoder failing on a malformed upload is the file's fault
            raise PhotoError(f"cannot read the image: {str(e)[:200] or type(e).__name__}") from None
    # down to a few times the target size in the stored mode (box filter, any mode) before converting: the
    # conversions below (16-bit / float greys through numpy, transparency) then touch a small image
    factor = min(img.size) // (4 * size)
    if factor >= 2:
        img = img.resize((max(1, img.width // factor), max(1, img.height // factor)), Image.Resampling.BOX)
    if orientation in _EXIF_TRANSPOSE:
        img = img.transpose(_EXIF_TRANSPOSE[orientation])
    rgb = _square(_to_rgb(img, background), size, mode, background)
    return image_to_tensor(np.array(rgb, dtype=np.uint8)).unsqueeze(0)   # a writable copy
