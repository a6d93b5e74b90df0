"""Image files built byte by byte for the hostile-upload tests: PNGs of any size and depth (zeros compress to almost
nothing, so a 124 KB file can declare 7999 x 7999 16-bit pixels), extra chunks, and TIFF headers."""
from __future__ import annotations

import struct
import zlib


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width: int, height: int, *, bit_depth: int = 8, colour: int = 0, extra: bytes = b"", rows: bool = True):
    """A PNG of zeros (grey: colour 0) written chunk by chunk; rows=False: the header only (IDAT of 16 bytes)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    row = 1 + width * bit_depth // 8 * (3 if colour == 2 else 1)
    raw = zlib.compress(bytes(row * height), 1) if rows else zlib.compress(b"\0" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def tiff(width: int, height: int, *, bits: int, sample_format: int) -> bytes:
    """The header of an uncompressed one-strip grey TIFF (sample_format 1: unsigned int, 3: float); no pixel data."""
    entries = [(256, 4, width), (257, 4, height), (258, 3, bits), (259, 3, 1), (262, 3, 1), (273, 4, 8),
               (277, 3, 1), (278, 4, height), (279, 4, width * height * bits // 8), (339, 3, sample_format)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", v, 0) if kind == 3 else struct.pack("<I", v))
        for tag, kind, v in entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd
