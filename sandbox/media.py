"""Image facts the emulators report (sizes, thumbnails) and placeholder media."""

from __future__ import annotations

import io
import mimetypes
from dataclasses import dataclass, replace
from functools import cache

from PIL import Image, UnidentifiedImageError

THUMB_SIDE = 320
STICKER_SIDE = 512
# Never decode more than this for a thumbnail: injected decompression bombs must not hurt us.
THUMB_MAX_PIXELS = 40_000_000


@dataclass(frozen=True)
class PhotoFacts:
    """What Telegram would know about an image: dimensions and a smaller rendition."""

    valid: bool
    width: int
    height: int
    mime: str = "image/jpeg"
    thumb: bytes | None = None
    thumb_width: int = 0
    thumb_height: int = 0


def inspect_photo(data: bytes) -> PhotoFacts:
    """Read an image's size and make a JPEG thumbnail when possible (blocking: use a thread)."""
    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return PhotoFacts(valid=False, width=0, height=0)
    with image:
        width, height = image.size
        known = PhotoFacts(True, width, height, Image.MIME.get(image.format or "", "image/jpeg"))
        if width * height > THUMB_MAX_PIXELS or max(width, height) <= THUMB_SIDE:
            return known
        try:
            image.draft("RGB", (THUMB_SIDE, THUMB_SIDE))
            small = image.convert("RGB")
            small.thumbnail((THUMB_SIDE, THUMB_SIDE))
        except (OSError, ValueError):
            # A truncated or corrupt file: the size is known, the pixels are not.
            return known
    out = io.BytesIO()
    small.save(out, "JPEG", quality=80)
    return replace(known, thumb=out.getvalue(), thumb_width=small.width, thumb_height=small.height)


def guess_mime(filename: str | None, fallback: str = "application/octet-stream") -> str:
    """A MIME type from a file name's extension."""
    guessed, _ = mimetypes.guess_type(filename or "")
    return guessed or fallback


def extension(mime: str) -> str:
    """A file extension (with dot) for a MIME type."""
    return {"image/jpeg": ".jpg", "image/webp": ".webp"}.get(mime) or (
        mimetypes.guess_extension(mime) or ".bin"
    )


def sniff_image_mime(data: bytes) -> str:
    """The image type of some bytes from their signature, without decoding them."""
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"GIF8"):
        return "image/gif"
    return "application/octet-stream"


@cache
def sticker_image() -> bytes:
    """A small WEBP sticker for simulated sticker messages."""
    out = io.BytesIO()
    Image.new("RGBA", (STICKER_SIDE, STICKER_SIDE), (255, 200, 0, 255)).save(out, "WEBP")
    return out.getvalue()
