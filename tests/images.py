"""Real and crafted test images: faces shipped with scikit-image, generated non-faces, bombs."""

from __future__ import annotations

import struct
import zlib
from io import BytesIO
from typing import Any

import numpy as np
from PIL import Image
from skimage import data


def sample(name: str) -> Image.Image:
    """One of scikit-image's sample photos, in RGB."""
    return Image.fromarray(getattr(data, name)()).convert("RGB")


ASTRONAUT = sample("astronaut")
# Head and shoulders only: below them the suit's mission patch is a weak face look-alike.
HEAD = ASTRONAUT.crop((120, 10, 320, 230))


def encode(image: Image.Image, fmt: str = "JPEG", **options: Any) -> bytes:
    """The image saved in `fmt`."""
    out = BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk with its length and CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(side: int) -> bytes:
    """A valid black 1-bit PNG of side x side pixels: tens of KB that inflate enormously."""
    row = bytes(1 + (side + 7) // 8)  # filter byte, then 8 pixels a byte
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row * min(1000, side - y)) for y in range(0, side, 1000))
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", body + packer.flush())
        + png_chunk(b"IEND", b"")
    )


def noise(width: int, height: int) -> Image.Image:
    """Uniform RGB noise."""
    pixels = np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def gradient(width: int, height: int) -> Image.Image:
    """A smooth diagonal colour gradient."""
    x, y = np.meshgrid(np.linspace(0, 255, width), np.linspace(0, 255, height))
    return Image.fromarray(np.dstack([x, y, (x + y) / 2]).astype(np.uint8))


def lfw_face(index: int) -> Image.Image:
    """A 25 px face from Labeled Faces in the Wild, enlarged so dlib can find it."""
    pixels = (data.lfw_subset()[index] * 255).astype(np.uint8)  # type: ignore[no-untyped-call]
    return Image.fromarray(pixels).resize((250, 250), Image.Resampling.LANCZOS).convert("RGB")


def two_heads() -> Image.Image:
    """Two people side by side: HEAD and its mirror image."""
    pair = Image.new("RGB", (HEAD.width * 2, HEAD.height))
    pair.paste(HEAD, (0, 0))
    pair.paste(HEAD.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (HEAD.width, 0))
    return pair


def darkened(image: Image.Image, factor: int = 6) -> Image.Image:
    """The image as taken in a dim room: every channel divided by `factor`."""
    return Image.eval(image, lambda value: value // factor)
