"""Photo loading (linkgan/photos.py): every PIL mode, EXIF orientation, aspect ratios, and a clear PhotoError for
every bad upload (empty, non-image, truncated, too small, decompression bomb), after which a good one still works."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from linkgan.photos import PhotoError, load_photo


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _check(x: torch.Tensor, size: int = 16) -> None:
    assert x.shape == (1, 3, size, size) and x.dtype == torch.float32
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0


def _rgb_at(x: torch.Tensor, i: int, j: int) -> list[int]:
    return [round(float(v)) for v in (x[0, :, i, j] + 1) * 127.5]


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "L", "LA", "1", "CMYK", "YCbCr", "I;16", "I", "F"])
def test_every_mode_loads(mode, tmp_path):
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 24, 3), dtype=np.uint8), "RGB")
    if mode == "I;16":
        img = Image.fromarray(np.full((20, 24), 65535, np.uint16))     # numpy uint16 -> "I;16"
        assert img.mode == "I;16"
    elif mode == "I":
        img = Image.fromarray(np.full((20, 24), 65535, np.int32))
    elif mode == "F":
        img = Image.fromarray(np.full((20, 24), 1.0, np.float32))
    else:
        img = rgb.convert(mode)
    x = load_photo(img, 16)
    _check(x)
    if mode in ("I;16", "I", "F"):
        assert _rgb_at(x, 8, 8) == [255, 255, 255]                   # full-scale values map to white


def test_transparency_is_composited_on_white():
    a = np.zeros((16, 16, 4), np.uint8)
    a[:, :8] = (255, 0, 0, 255)                                      # left half opaque red, right half clear
    x = load_photo(Image.fromarray(a, "RGBA"), 16)
    assert _rgb_at(x, 8, 2) == [255, 0, 0] and _rgb_at(x, 8, 13) == [255, 255, 255]
    la = Image.fromarray(np.dstack([np.zeros((16, 16), np.uint8), np.zeros((16, 16), np.uint8)]), "LA")
    assert _rgb_at(load_photo(la, 16), 5, 5) == [255, 255, 255]      # fully transparent black -> white
    p = Image.fromarray(a, "RGBA").convert("P")
    p.info["transparency"] = p.getpixel((13, 8))
    assert _rgb_at(load_photo(p, 16), 8, 13) == [255, 255, 255]


def test_exif_orientation_is_applied(tmp_path):
    a = np.zeros((16, 32, 3), np.uint8)
    a[:, :16] = (0, 0, 255)                                          # left blue, right black; wide
    img = Image.fromarray(a, "RGB")
    exif = Image.Exif()
    exif[0x0112] = 6                                                 # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif, quality=95)
    x = load_photo(path, 16, mode="pad")
    # displayed: tall (16 wide, 32 high) with blue on top; padded into 32 x 32 with white at the sides
    assert _rgb_at(x, 3, 8)[2] > 200 and _rgb_at(x, 3, 8)[0] < 60
    assert _rgb_at(x, 12, 8)[2] < 60
    assert _rgb_at(x, 8, 0) == [255, 255, 255]


def test_aspect_ratio_crop_and_pad():
    a = np.zeros((10, 40, 3), np.uint8)
    a[:, 15:25] = 255                                                # a white band in the middle of a wide photo
    img = Image.fromarray(a, "RGB")
    crop = load_photo(img, 16, mode="crop")                          # centre 10 x 10: columns 15..24 all white
    assert float(crop.min()) > 0.9
    pad = load_photo(img, 16, mode="pad", background=(0, 0, 0))
    assert _rgb_at(pad, 1, 8) == [0, 0, 0] and _rgb_at(pad, 8, 8) == [255, 255, 255]
    with pytest.raises(ValueError, match="crop"):
        load_photo(img, 16, mode="stretch")


def _bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_every_bad_upload_is_a_clear_error_then_a_good_one_works(tmp_path):
    good = _png_bytes(Image.new("RGB", (32, 24), (10, 200, 30)))
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    cases = [
        (b"", "empty"),
        (empty, "empty"),
        (tmp_path / "missing.png", "cannot read"),
        (text, "not an image"),
        (good[: len(good) // 2], "damaged or truncated"),
        (_png_bytes(Image.new("RGB", (1, 1))), "too small"),
        (_png_bytes(Image.new("RGB", (40, 7))), "too small"),
        (_bomb_png(30000, 30000), "too large"),                      # 900 M pixels: above Pillow's own limit
        (_bomb_png(9000, 8000), "too large"),                        # 72 M pixels: above ours
    ]
    for src, words in cases:
        with pytest.raises(PhotoError, match=words):
            load_photo(src, 16)
    with pytest.raises(PhotoError, match="too large"):
        load_photo(good, 16, max_pixels=100)                         # a low limit set by the caller
    assert issubclass(PhotoError, ValueError)
    x = load_photo(good, 16)
    _check(x)
    assert _rgb_at(x, 8, 8) == [10, 200, 30]
    with open(tmp_path / "good.png", "wb") as f:
        f.write(good)
    with open(tmp_path / "good.png", "rb") as f:                     # a binary file object works too
        assert torch.equal(load_photo(f, 16), x)
