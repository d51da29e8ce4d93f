"""QR codes: drawing them for invitations and posters, reading them from photos of posters."""

from __future__ import annotations

import io

import segno
import zxingcpp

from core.imaging import PhotoRejected, decode_image

# Enough pixels for a 12 cm code on an A4 poster photographed from arm's length.
READ_SIDE = 2000
READ_MAX_PIXELS = 40_000_000
QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def qr_png(text: str, scale: int = 8) -> bytes:
    """A PNG QR code of `text`, error correction M, with the standard quiet zone."""
    buffer = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def read_qr(data: bytes) -> list[str]:
    """The texts of every QR code in an untrusted photo (none when it is no usable image)."""
    try:
        image = decode_image(data, max_side=READ_SIDE, max_pixels=READ_MAX_PIXELS)
    except PhotoRejected:
        return []
    image.thumbnail((READ_SIDE, READ_SIDE))
    found = zxingcpp.read_barcodes(image.convert("L"), formats=QR_ONLY)
    return [code.text for code in found if code.valid]
