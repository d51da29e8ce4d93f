"""A4 checkpoint posters: a PDF to print (reportlab) and a PNG for screens (Pillow); and
personal QR cards for people without a smartphone.

Both draw one layout, measured in millimetres, with DejaVu Sans (matplotlib ships it; it has
every Vietnamese glyph, reportlab's own fonts do not). Every string is NFC-normalised first:
decomposed accents draw on top of each other. The QR symbol is 12 cm wide, plus its quiet
zone: smaller codes stop decoding from phone photos (reference/measured-2026-12.md).
"""

from __future__ import annotations

import importlib.util
import io
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from core.models import Checkpoint, Organisation
from core.texts import t

PAGE_MM = (210.0, 297.0)
MARGIN_MM = 15.0
QR_MM = 120.0
QUIET_MODULES = 4
MM_PER_PT = 25.4 / 72
LINE_SPACING = 1.3
Rgb = tuple[int, int, int]
BLACK: Rgb = (0, 0, 0)
RED: Rgb = (200, 30, 30)
GREY: Rgb = (90, 90, 90)
FONTS = {False: "DejaVuSans", True: "DejaVuSans-Bold"}


@dataclass(frozen=True)
class PosterItem:
    """One checkpoint to print: its organisation, its commune's name and what the QR encodes."""

    org: Organisation
    checkpoint: Checkpoint
    area_name: str
    url: str
    window: str = ""  # "Ca 06:00–14:00, 27/11/2026": a poster valid for one shift or trip only


@dataclass(frozen=True)
class _Text:
    """One centred line; `baseline` in mm from the top of the page, `size` in points."""

    baseline: float
    text: str
    size: float
    bold: bool = False
    color: Rgb = BLACK


@dataclass(frozen=True)
class _Qr:
    """The QR symbol (quiet zone not drawn: the page is white), `top` in mm from the top."""

    top: float
    size: float
    matrix: tuple[bytearray, ...]


@cache
def font_path(bold: bool = False) -> Path:
    """DejaVu Sans from matplotlib's data directory (found without importing matplotlib)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("matplotlib (for its DejaVu Sans font) is not installed")
    package = Path(next(iter(spec.submodule_search_locations)))
    return package / "mpl-data" / "fonts" / "ttf" / f"{FONTS[bold]}.ttf"


@cache
def _registered() -> None:
    for bold, name in FONTS.items():
        pdfmetrics.registerFont(TTFont(name, str(font_path(bold))))


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _wrap(text: str, size: float, bold: bool) -> list[str]:
    """Greedy word wrap to the page's text width."""
    _registered()
    width = (PAGE_MM[0] - 2 * MARGIN_MM) / MM_PER_PT
    lines: list[str] = []
    for word in _nfc(text).split():
        joined = f"{lines[-1]} {word}" if lines else word
        if lines and pdfmetrics.stringWidth(joined, FONTS[bold], size) <= width:
            lines[-1] = joined
        else:
            lines.append(word)
    return lines


class _Column:
    """Lays lines out down the page, from the top margin."""

    def __init__(self) -> None:
        self.y = MARGIN_MM
        self.texts: list[_Text] = []

    def add(self, text: str, size: float, bold: bool = False, color: Rgb = BLACK) -> None:
        """Append `text`, wrapped to the page width."""
        for line in _wrap(text, size, bold):
            self.y += size * MM_PER_PT * LINE_SPACING
            self.texts.append(_Text(self.y, line, size, bold, color))

    def gap(self, mm: float) -> None:
        """Leave some space."""
        self.y += mm


def _layout(item: PosterItem, lang: str) -> tuple[list[_Text], _Qr]:
    """Where everything goes on one poster."""
    org, checkpoint = item.org, item.checkpoint
    column = _Column()
    column.add(org.name, 18, bold=True)
    column.add(f"{t(lang, f'poster.org_{org.kind.value}')} · {item.area_name}", 12, color=GREY)
    column.gap(3)
    column.add(checkpoint.name, 30, bold=True)
    column.add(t(lang, f"poster.kind_{checkpoint.kind.value}"), 16)
    column.gap(2)
    column.add(t(lang, "poster.scan_in_out"), 24, bold=True, color=RED)
    qr = segno.make(_nfc(item.url), error="m", micro=False)
    module = QR_MM / len(qr.matrix)
    top = column.y + QUIET_MODULES * module
    column.gap(QR_MM + 2 * QUIET_MODULES * module)
    if item.window:  # the checkpoint's code works at any time: a shift poster shows none
        column.add(t(lang, "poster.window", window=item.window), 24, bold=True, color=RED)
    else:
        column.add(t(lang, "poster.code", code=checkpoint.code), 32, bold=True)
    column.gap(2)
    for platform in ("telegram", "zalo"):
        column.add(t(lang, f"poster.{platform}_title"), 13, bold=True)
        steps = "zalo_steps_window" if item.window and platform == "zalo" else f"{platform}_steps"
        column.add(t(lang, f"poster.{steps}", code=checkpoint.code), 12)
    column.gap(2)
    column.add(t(lang, "poster.footer"), 9, color=GREY)
    return column.texts, _Qr(top, QR_MM, qr.matrix)


def _dark_runs(matrix: tuple[bytearray, ...]) -> Iterator[tuple[int, int, int]]:
    """(row, first column, length) of each horizontal run of dark modules."""
    for row, values in enumerate(matrix):
        start = None
        for column, dark in enumerate([*values, 0]):
            if dark and start is None:
                start = column
            elif not dark and start is not None:
                yield row, start, column - start
                start = None


def poster_pdf(items: Sequence[PosterItem], lang: str = "vi") -> bytes:
    """A printable A4 PDF, one page per checkpoint, fonts embedded."""
    _registered()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle(_nfc(", ".join(item.checkpoint.name for item in items)))
    for item in items:
        _draw_pdf(canvas, *_layout(item, lang))
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _pt(mm: float) -> float:
    return mm / MM_PER_PT


def _draw_pdf(canvas: Canvas, texts: list[_Text], qr: _Qr) -> None:
    height = _pt(PAGE_MM[1])
    for line in texts:
        canvas.setFillColorRGB(*(c / 255 for c in line.color))
        canvas.setFont(FONTS[line.bold], line.size)
        canvas.drawCentredString(_pt(PAGE_MM[0] / 2), height - _pt(line.baseline), line.text)
    canvas.setFillColorRGB(0, 0, 0)
    module = qr.size / len(qr.matrix)
    left = (PAGE_MM[0] - qr.size) / 2
    for row, column, length in _dark_runs(qr.matrix):
        x, y = left + column * module, qr.top + (row + 1) * module
        canvas.rect(_pt(x), height - _pt(y), _pt(length * module), _pt(module), 0, 1)


def poster_png(item: PosterItem, lang: str = "vi", dpi: int = 150) -> bytes:
    """The same poster as a PNG for screens (150 dpi: 1240 × 1754 pixels)."""
    px = dpi / 25.4
    image = Image.new("RGB", (round(PAGE_MM[0] * px), round(PAGE_MM[1] * px)), "white")
    draw = ImageDraw.Draw(image)
    texts, qr = _layout(item, lang)
    for line in texts:
        font = ImageFont.truetype(str(font_path(line.bold)), round(line.size * MM_PER_PT * px))
        position = (image.width / 2, line.baseline * px)
        draw.text(position, line.text, fill=line.color, font=font, anchor="ms")
    module = max(1, round(qr.size * px / len(qr.matrix)))  # whole pixels keep edges sharp
    left = (image.width - module * len(qr.matrix)) // 2
    top = round(qr.top * px)
    for row, column, length in _dark_runs(qr.matrix):
        x, y = left + column * module, top + row * module
        draw.rectangle((x, y, x + length * module - 1, y + module - 1), fill=BLACK)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", dpi=(dpi, dpi))
    return buffer.getvalue()


CARD_MM = (85.6, 54.0)  # a bank card: fits a wallet
CARDS_PER_ROW, CARD_ROWS = 2, 5  # on an A4 sheet, cut along the grey lines
CARD_DPI = 300


@dataclass(frozen=True)
class CardItem:
    """One personal card to print: whose, their commune, the code and what the QR holds."""

    name: str
    area_name: str
    code: str
    qr_text: str


def card_png(item: CardItem, lang: str = "vi") -> bytes:
    """A personal QR card at its real size (300 dpi), to show or print."""
    buffer = io.BytesIO()
    _card_image(item, lang).save(buffer, "PNG", dpi=(CARD_DPI, CARD_DPI))
    return buffer.getvalue()


def _card_image(item: CardItem, lang: str) -> Image.Image:
    px = CARD_DPI / 25.4
    image = Image.new("RGB", (round(CARD_MM[0] * px), round(CARD_MM[1] * px)), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, image.width - 1, image.height - 1), outline=GREY, width=2)
    qr = segno.make(_nfc(item.qr_text), error="m", micro=False)
    side = round(40 * px)  # 40 mm: read at arm's length by the gate's phone
    module = max(1, side // (len(qr.matrix) + 2 * QUIET_MODULES))
    top = left = round(4 * px) + QUIET_MODULES * module
    for row, column, length in _dark_runs(qr.matrix):
        x, y = left + column * module, top + row * module
        draw.rectangle((x, y, x + length * module - 1, y + module - 1), fill=BLACK)
    text_left = round(48 * px)
    lines = [
        (t(lang, "card.title"), 9, True, RED),
        (_nfc(item.name), 11, True, BLACK),
        (_nfc(item.area_name), 8, False, GREY),
        (t(lang, "card.code"), 7, False, GREY),
        (item.code, 11, True, BLACK),
        (t(lang, "card.hint"), 6, False, GREY),
    ]
    y = round(8 * px)
    for text, size, bold, color in lines:
        font = ImageFont.truetype(str(font_path(bold)), round(size * MM_PER_PT * px))
        for line in _wrap_to(draw, _nfc(text), font, image.width - text_left - round(3 * px)):
            draw.text((text_left, y), line, fill=color, font=font)
            y += round(size * MM_PER_PT * px * LINE_SPACING)
    return image


def _wrap_to(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int
) -> list[str]:
    """Greedy word wrap to a pixel width."""
    lines: list[str] = []
    for word in text.split():
        joined = f"{lines[-1]} {word}" if lines else word
        if lines and draw.textlength(joined, font=font) <= width:
            lines[-1] = joined
        else:
            lines.append(word)
    return lines


def card_pdf(items: Sequence[CardItem], lang: str = "vi") -> bytes:
    """A4 sheets of personal cards at their real size, ten per page."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    per_page = CARDS_PER_ROW * CARD_ROWS
    for first in range(0, len(items), per_page):
        for index, item in enumerate(items[first : first + per_page]):
            row, column = divmod(index, CARDS_PER_ROW)
            x = MARGIN_MM + column * (CARD_MM[0] + 5)
            y = PAGE_MM[1] - MARGIN_MM - (row + 1) * (CARD_MM[1] + 0)
            reader = ImageReader(io.BytesIO(card_png(item, lang)))
            canvas.drawImage(reader, _pt(x), _pt(y), _pt(CARD_MM[0]), _pt(CARD_MM[1]))
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()
